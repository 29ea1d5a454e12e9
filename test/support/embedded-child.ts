// Starts the embedded PostgreSQL in its own process and keeps it running, so a test can kill -9
// this process and see the next start recover. Usage: node embedded-child.ts <dataDir>
import { startEmbeddedPostgres } from '../../platform/database/embedded.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: embedded-child.ts <dataDir>');
const handle = await startEmbeddedPostgres({ dataDir });
console.log(`READY ${handle.url}`);
setInterval(() => undefined, 60_000);
