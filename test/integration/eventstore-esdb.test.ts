// The same event store contract against EventStoreDB / KurrentDB, when EVENTSTORE_URL is set
// (the GitHub workflow runs it with an EventStoreDB service container; no server runs here).
import test from 'ava';
import { openEsdbEventStore } from '../../platform/eventstore/esdb.ts';
import { eventStoreContract } from './eventstore-contract.ts';

const url = process.env.EVENTSTORE_URL;

if (url) {
  eventStoreContract(test, () => {
    const store = openEsdbEventStore({ connectionString: url });
    return Promise.resolve({ store, cleanup: () => store.close() });
  });
} else {
  const reason =
    'EVENTSTORE_URL is not set: the EventStoreDB contract suite is skipped (the GitHub workflow runs it against an EventStoreDB service container)';
  console.log(`[skip] ${reason}`);
  test.skip('EventStoreDB contract suite (needs EVENTSTORE_URL)', (t) => {
    t.pass();
  });
}
