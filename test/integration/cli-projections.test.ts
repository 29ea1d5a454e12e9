// The projection commands as an operator runs them: `projections status` names a failed read
// model's event (position and type), `projections skip` refuses anything but that event and records
// the skip in the log, `projections resume` asks for another try.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { eventMetadata, systemCause } from '../../platform/eventstore/metadata.ts';
import { formatPosition } from '../../platform/eventstore/port.ts';
import { samplesProjection } from '../../projections/samples/samples-read-model.ts';
import { eventually, fixture } from './projections-fixtures.ts';
import { runCli } from '../support/cli.ts';

test('projections status shows the failed event; skip refuses another event, records the right one; resume asks again', async (t) => {
  const f = await fixture();
  try {
    const sampleId = randomUUID();
    const poison = await f.store.append(
      `sample-${sampleId}`,
      [{ type: 'SampleRegistered', data: { sampleId, notes: 'Jane Doe' }, metadata: eventMetadata(systemCause(), 1) }],
      { expectedRevision: 'no_stream' },
    );
    const engine = f.engine(samplesProjection, { maxAttempts: 1 });
    engine.start();
    t.true(await eventually(async () => (await engine.status())[0]?.status === 'failed'));
    await engine.stop();
    const position = formatPosition(poison.position);
    const env = { DATABASE_URL: f.db.url, DATA_DIR: `/tmp/vialog-cli-projections-${process.pid}`, LOG_LEVEL: 'warn' };

    const status = await runCli(['projections', 'status'], env);
    t.is(status.code, 0, status.output);
    t.true(
      status.output.includes(`samples: FAILED at event ${position} (SampleRegistered) after 1 attempts`),
      status.output,
    );
    t.true(
      status.output.includes(`projections skip samples --position ${position} --type SampleRegistered`),
      status.output,
    );
    t.false(status.output.includes('Jane'));

    const wrong = await runCli(
      ['projections', 'skip', 'samples', '--position', position, '--type', 'SampleUpdated', '--reason', 'typo'],
      env,
    );
    t.is(wrong.code, 1, wrong.output);
    t.regex(wrong.output, /failed at \d+\/\d+ \(SampleRegistered\), not at/);
    t.deepEqual(await f.store.readStream('projection-samples'), []);

    const skipped = await runCli(
      [
        'projections',
        'skip',
        'samples',
        '--position',
        position,
        '--type',
        'SampleRegistered',
        '--reason',
        'ticket 4711',
      ],
      env,
    );
    t.is(skipped.code, 0, skipped.output);
    t.regex(skipped.output, /skip of \d+\/\d+ \(SampleRegistered\) recorded/);
    const [recorded] = await f.store.readStream('projection-samples');
    t.like(recorded, {
      type: 'ProjectionEventSkipped',
      data: { projection: 'samples', position, type: 'SampleRegistered', reason: 'ticket 4711' },
      metadata: { actorType: 'system' },
    });

    const resumed = await runCli(['projections', 'resume', 'samples'], env);
    t.is(resumed.code, 0, resumed.output);
    t.regex(resumed.output, /resume requested/);
    const notFailed = await runCli(['projections', 'resume', 'identity'], env);
    t.is(notFailed.code, 1);
    t.regex(notFailed.output, /is not failed/);
  } finally {
    await f.teardown();
  }
});
