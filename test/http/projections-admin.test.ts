// A poison event over HTTP, as an operator meets it: one read model is failed at the event (its
// position and type shown, never its content), readiness stays 200 and says `degraded`, unrelated
// routes answer as before, commands on the failed read model answer at once and say their reads
// are stale, and an admin skips the event (recorded in the audit trail) or resumes.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { eventMetadata, systemCause } from '../../platform/eventstore/metadata.ts';
import { formatPosition } from '../../platform/eventstore/port.ts';
import { call, loginToken, newUser, bootstrapAdmin, useTestService, type TestUser } from '../support/service.ts';
import { eventually } from '../support/eventually.ts';

let alice: TestUser;
let adminToken: string;
const admin = { username: 'operator', password: 'Granite-Pelican-Orbit-52' };
const SECRET = 'Jane Doe, born 1961';

const svc = useTestService(test, {
  ...bootstrapAdmin(admin),
  PROJECTION_MAX_ATTEMPTS: '2',
  READ_YOUR_WRITES_TIMEOUT_MS: '30000',
});
test.before(async () => {
  // A read-your-writes timeout far longer than any answer below may take: a stale answer is at once.
  adminToken = await loginToken(svc.api, admin);
  alice = await newUser(svc.api, 'alice');
});

interface Status {
  name: string;
  status: string;
  lastError: string | null;
  failedEvent: { position: string; type: string; attempts: number; failedAt: string } | null;
}
const statuses = async () => (await call<Status[]>(svc.api, 'GET', '/admin/projections', { token: adminToken })).body;
const samplesStatus = async () => (await statuses()).find((s) => s.name === 'samples')!;
const sample = { sampleType: 'blood', subjectId: 'P001', collectionDate: new Date().toISOString().slice(0, 10) };

/** An event that got into the log in a form the samples read model cannot take (here: written past the edge). */
async function appendPoison(): Promise<string> {
  const sampleId = randomUUID();
  const event = {
    type: 'SampleRegistered',
    data: { sampleId, ownerId: alice.id, notes: SECRET },
    metadata: eventMetadata(systemCause(), 1),
  };
  const appended = await svc.service.infrastructure.store.append(`sample-${sampleId}`, [event], {
    expectedRevision: 'no_stream',
  });
  return formatPosition(appended.position);
}

test.serial(
  "a failed read model: shown with the event's position and type only; readiness degraded, not 503; other routes unaffected; its commands answer at once, marked stale",
  async (t) => {
    const position = await appendPoison();
    const failed = await eventually(samplesStatus, (s) => s.status === 'failed');
    t.like(failed, { status: 'failed', failedEvent: { position, type: 'SampleRegistered', attempts: 2 } });
    t.regex(failed.lastError ?? '', /could not be applied after 2 attempts: ZodError/);
    t.false(JSON.stringify(await statuses()).includes('Jane'), 'no event content in the status');
    t.false(svc.logLines.join('\n').includes('Jane'), 'nor in the logs');

    const ready = await call(svc.url, 'GET', '/health/ready');
    t.is(ready.status, 200);
    t.like(ready.body, {
      status: 'degraded',
      checks: {
        projections: { status: 'degraded', failed: [{ name: 'samples', position, type: 'SampleRegistered' }] },
      },
    });
    t.regex(ready.body.checks.projections.reason, /samples at \d+\/\d+ \(SampleRegistered\)/);

    // Unrelated: the dialog read model is current, so its command waits and answers fresh.
    const conversation = await call(svc.api, 'POST', '/dialog/conversations', {
      token: alice.accessToken,
      body: { title: 'Freezer plan' },
    });
    t.is(conversation.status, 201);
    t.is(conversation.headers.get('vialog-read-your-writes'), null);
    t.is(
      (
        await call(svc.api, 'GET', `/dialog/conversations/${conversation.body.id}/messages`, {
          token: alice.accessToken,
        })
      ).status,
      200,
    );

    const started = Date.now();
    const created = await call(svc.api, 'POST', '/samples', { token: alice.accessToken, body: sample });
    t.is(created.status, 201, 'the command itself succeeds');
    t.is(created.headers.get('vialog-read-your-writes'), 'stale', 'and says its reads are stale');
    t.true(Date.now() - started < 15_000, `at once, not after the 30 s timeout (${Date.now() - started} ms)`);
  },
);

test.serial(
  'skip and resume are for admins, name an existing projection, and a skip must name the failed event exactly',
  async (t) => {
    const { failedEvent } = await samplesStatus();
    t.truthy(failedEvent);
    const body = { position: failedEvent!.position, type: failedEvent!.type, reason: 'ticket 4711' };
    t.is(
      (await call(svc.api, 'POST', '/admin/projections/samples/skip', { token: alice.accessToken, body })).status,
      403,
    );
    t.is((await call(svc.api, 'POST', '/admin/projections/samples/resume', { token: alice.accessToken })).status, 403);
    t.is((await call(svc.api, 'POST', '/admin/projections/nope/skip', { token: adminToken, body })).status, 404);
    t.is((await call(svc.api, 'POST', '/admin/projections/nope/resume', { token: adminToken })).status, 404);
    const wrongType = await call(svc.api, 'POST', '/admin/projections/samples/skip', {
      token: adminToken,
      body: { ...body, type: 'SampleUpdated' },
    });
    t.like(wrongType, { status: 409, body: { code: 'not_the_failed_event' } });
    t.regex(wrongType.headers.get('content-type') ?? '', /application\/problem\+json/);
    t.like(await call(svc.api, 'POST', '/admin/projections/identity/skip', { token: adminToken, body }), {
      status: 409,
      body: { code: 'not_failed' },
    });
    t.like(await call(svc.api, 'POST', '/admin/projections/identity/resume', { token: adminToken }), {
      status: 409,
      body: { code: 'not_failed' },
    });
    for (const bad of [
      { ...body, reason: 'a\u0000b' },
      { ...body, reason: '' },
      { ...body, position: 'x/1' },
      { ...body, extra: 1 },
      { position: body.position },
    ]) {
      t.like(
        await call(svc.api, 'POST', '/admin/projections/samples/skip', { token: adminToken, body: bad }),
        { status: 422, body: { code: 'validation_failed' } },
        JSON.stringify(bad),
      );
    }
    t.is((await samplesStatus()).status, 'failed', 'nothing refused changed anything');
  },
);

test.serial(
  'resume: the failed event is tried again (and, still unfixed, fails again after its attempts)',
  async (t) => {
    const before = (await samplesStatus()).failedEvent!;
    const resumed = await call(svc.api, 'POST', '/admin/projections/samples/resume', { token: adminToken });
    t.is(resumed.status, 202);
    t.like(resumed.body, { name: 'samples' });
    const again = await eventually(
      samplesStatus,
      (s) => s.status === 'failed' && s.failedEvent !== null && s.failedEvent.failedAt !== before.failedAt,
    );
    t.like(again, { status: 'failed', failedEvent: { position: before.position, type: before.type, attempts: 2 } });
    t.not(again.failedEvent!.failedAt, before.failedAt, 'tried again, and gave up again');
  },
);

test.serial(
  'skip: recorded as an audited event (actor, reason); the read model goes on past it and catches up',
  async (t) => {
    const { failedEvent } = await samplesStatus();
    const skipped = await call(svc.api, 'POST', '/admin/projections/samples/skip', {
      token: adminToken,
      body: { position: failedEvent!.position, type: failedEvent!.type, reason: 'ticket 4711: written past the edge' },
    });
    t.is(skipped.status, 202);
    t.like(skipped.body, { name: 'samples', position: failedEvent!.position, type: 'SampleRegistered' });
    const running = await eventually(samplesStatus, (s) => s.status === 'running');
    t.like(running, { status: 'running', failedEvent: null, lastError: null });
    // The sample created while it was failed is there now.
    t.true(
      (
        await eventually(
          () => call(svc.api, 'GET', '/samples', { token: alice.accessToken }),
          (r) => r.body.total === 1,
        )
      ).body.total === 1,
    );
    const audit = await eventually(
      () => call(svc.api, 'GET', '/audit?type=ProjectionEventSkipped', { token: adminToken }),
      (r) => r.body.items?.length === 1,
    );
    t.like(audit.body.items[0], {
      streamId: 'projection-samples',
      type: 'ProjectionEventSkipped',
      reason: 'ticket 4711: written past the edge',
      data: {
        projection: 'samples',
        position: failedEvent!.position,
        type: 'SampleRegistered',
        reason: 'ticket 4711: written past the edge',
      },
    });
    t.is(audit.body.items[0].actor.type, 'user');
    const fresh = await call(svc.api, 'POST', '/samples', { token: alice.accessToken, body: sample });
    t.is(fresh.status, 201);
    t.is(fresh.headers.get('vialog-read-your-writes'), null, 'reads are fresh again');
    const ready = await call(svc.url, 'GET', '/health/ready');
    t.like(ready, { status: 200, body: { status: 'ok', checks: { projections: { status: 'ok' } } } });
  },
);

test('the OpenAPI document describes the stale-read signal on command answers, and the skip and resume routes', async (t) => {
  type Operation = { responses: Record<string, { headers?: Record<string, unknown> }>; requestBody?: unknown };
  const doc = (await (await fetch(`${svc.api}/openapi.json`)).json()) as {
    info: { description: string };
    paths: Record<string, Record<string, Operation>>;
  };
  t.truthy(
    doc.paths['/api/v1/samples']?.post?.responses['201']?.headers?.['Vialog-Read-Your-Writes'],
    "on a command's 2xx",
  );
  t.falsy(doc.paths['/api/v1/samples']?.get?.responses['200']?.headers?.['Vialog-Read-Your-Writes'], 'not on a query');
  t.regex(doc.info.description, /Vialog-Read-Your-Writes: stale/);
  const skip = doc.paths['/api/v1/admin/projections/{name}/skip']?.post;
  t.truthy(skip?.requestBody);
  for (const status of ['202', '403', '404', '409', '422']) t.truthy(skip?.responses[status], status);
  t.truthy(doc.paths['/api/v1/admin/projections/{name}/resume']?.post?.responses['409']);
});
