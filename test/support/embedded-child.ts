// Starts the embedded PostgreSQL in its own process and keeps it running, so a test can kill -9
// this process and see the next start recover, or SIGTERM it and see it stop its handle.
// Usage: node embedded-child.ts <dataDir>
import { startEmbeddedPostgres } from '../../platform/database/embedded.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: embedded-child.ts <dataDir>');
const handle = await startEmbeddedPostgres({ dataDir });
console.log(`READY ${handle.url}`);
const keepAlive = setInterval(() => undefined, 60_000);
process.once('SIGTERM', () => {
  clearInterval(keepAlive);
  void handle.stop().then(() => process.exit(0));
});
