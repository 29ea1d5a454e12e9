// The first half of a placement in its own process, for the kill -9 test: claims the slot on the
// box's stream, says CLAIMED and waits (as a request does between the box's append and the
// sample's), so the test can kill it there.
// Usage: node placement-child.ts <databaseUrl> <boxId> <position> <sampleId> <labId>
import { Writable } from 'node:stream';
import { openInfrastructure } from '../../app/infrastructure.ts';
import { createStorageCommands } from '../../modules/storage/commands.ts';
import { loadConfig } from '../../platform/config.ts';
import { systemCause } from '../../platform/eventstore/metadata.ts';
import { createLogger } from '../../platform/logging.ts';

const [databaseUrl, boxId, position, sampleId, labId] = process.argv.slice(2);
if (!databaseUrl || !boxId || !position || !sampleId || !labId) throw new Error('usage: see the header');
const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl, DATABASE_POOL_MAX: '2' });
const logger = createLogger({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
const { store } = await openInfrastructure(config, logger);
const storage = createStorageCommands({
  store,
  waitForReadModel: () => Promise.resolve(true),
  hasChildren: () => Promise.resolve(false),
});
await storage.claimSlot(boxId, position, { id: sampleId, labId, sampleType: 'blood' }, systemCause());
console.log('CLAIMED');
setInterval(() => undefined, 60_000);
