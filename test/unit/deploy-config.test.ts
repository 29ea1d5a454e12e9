// The deployment files, checked without a Docker engine: they parse, reference files that exist,
// use only configuration variables Vialog knows, and the Dockerfile follows the house rules.
// `docker-compose config` runs too when the docker-compose tool is installed (.ci/run installs it).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import { parse, parseAllDocuments } from 'yaml';
import { envSchema } from '../../platform/config.ts';

const knownVariables = new Set(Object.keys(envSchema.shape));
const read = (path: string) => readFileSync(path, 'utf8');

test('docker-compose.yml: the full stack, mounted files exist, only known variables', (t) => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<string, { environment?: Record<string, string>; volumes?: string[] }>;
  };
  t.deepEqual(Object.keys(compose.services).sort(), [
    'api',
    'eventstore',
    'grafana',
    'jaeger',
    'otel-collector',
    'postgres',
    'projector',
    'prometheus',
    'redis',
  ]);
  for (const [name, service] of Object.entries(compose.services)) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0]!;
      if (source.startsWith('./')) t.true(existsSync(source), `${name} mounts ${source}, which must exist`);
    }
  }
  for (const service of ['api', 'projector']) {
    for (const key of Object.keys(compose.services[service]!.environment ?? {}))
      t.true(knownVariables.has(key), `${service}: ${key} is not a Vialog variable`);
  }
  t.regex(read('docker-compose.yml'), /LOCAL USE ONLY/);
});

const composeTool = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
if (composeTool.status !== 0)
  console.log(
    '[skip] docker-compose config: the docker-compose tool is not installed (`apt-get install docker-compose`; .ci/run installs it)',
  );
(composeTool.status === 0 ? test : test.skip)('docker-compose config accepts the file', (t) => {
  const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { encoding: 'utf8' });
  t.is(result.status, 0, result.stderr);
});

test('Dockerfile: multi-stage, Node 24 slim, production dependencies only, non-root, health check', (t) => {
  const lines = read('Dockerfile')
    .split('\n')
    .map((l) => l.trim());
  const froms = lines.filter((l) => l.startsWith('FROM '));
  t.true(froms.length >= 2, 'multi-stage');
  t.true(
    froms.every((l) => /^FROM node:24[-.][\w.-]*slim/.test(l)),
    'Node 24 slim images',
  );
  t.true(
    lines.some((l) => /npm ci\b.*--omit=dev/.test(l)),
    'production dependencies only',
  );
  const users = lines.filter((l) => l.startsWith('USER '));
  t.true(users.length > 0 && !/root|^USER 0/.test(users.at(-1)!), 'runs as a non-root user');
  t.true(
    lines.some((l) => l.startsWith('HEALTHCHECK ')),
    'has a HEALTHCHECK',
  );
  t.true(lines.some((l) => l.includes('ENTRYPOINT ["node", "app/cli.ts"]')));
  for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from'))) {
    for (const source of l.split(/\s+/).slice(1, -1)) t.true(existsSync(source), `COPY ${source} exists`);
  }
  t.false(
    lines.some((l) => /^ADD\s+https?:/.test(l)),
    'no remote ADD',
  );
});

test('Dockerfile: the image gets the production sources and the licence, no tests, benchmarks or dev files', (t) => {
  const copied = read('Dockerfile')
    .split('\n')
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from'))
    .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
  const expected = ['LICENSE', 'app', 'modules', 'package-lock.json', 'package.json', 'package.json', 'platform'];
  t.deepEqual(copied.sort(), [...expected, 'projections'].sort());
  const ignored = read('.dockerignore').split('\n');
  for (const dev of ['test', 'bench', 'node_modules', '.git']) t.true(ignored.includes(dev), `.dockerignore: ${dev}`);
});

// The Docker language service's linter (syntax, instruction arguments, ports, casing, one CMD /
// ENTRYPOINT / HEALTHCHECK per stage, JSON-form quoting, absolute WORKDIR), every rule an error.
const lintEverything: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

test('Dockerfile: the Dockerfile linter finds nothing (and does find a broken one)', (t) => {
  const message = (p: ReturnType<typeof validate>[number]) =>
    typeof p.message === 'string' ? p.message : p.message.value;
  const problems = validate(read('Dockerfile'), lintEverything);
  t.deepEqual(
    problems.map((p) => `line ${p.range.start.line + 1}: ${message(p)}`),
    [],
  );
  const broken = validate('FROM node:24-slim\nexpose abc\nCMD [\'node\']\nCMD ["node"]\nWORKDIR app\n', lintEverything);
  t.true(broken.length >= 4, broken.map(message).join('; '));
});

test('Prometheus: config loads the alert rules; every rule has an expression', (t) => {
  const config = parse(read('deploy/prometheus/prometheus.yml')) as { rule_files: string[]; scrape_configs: unknown[] };
  t.deepEqual(config.rule_files, ['/etc/prometheus/alerts.yml']);
  const rules = parse(read('deploy/prometheus/alerts.yml')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const all = rules.groups.flatMap((g) => g.rules);
  t.true(all.length >= 5);
  for (const rule of all) t.true(rule.alert.length > 0 && rule.expr.trim().length > 0);
  t.true(all.some((r) => r.expr.includes('vialog_projection_lag_seconds')));
  t.true(
    all.some((r) => r.expr.includes('vialog_projection_failed')),
    'a failed projection alerts',
  );
  t.true(
    all.some((r) => r.expr.includes('vialog_eventstore_horizon_age_seconds')),
    'a stalled horizon alerts',
  );
  t.true(all.some((r) => r.expr.includes('http_response_status_code=~"5..'))); // 5xx rate
});

test('Grafana dashboards parse and query only metrics Vialog exports', (t) => {
  const exported = [
    'http_server_request_duration',
    'vialog_events_appended_total',
    'vialog_projection_lag_events',
    'vialog_projection_lag_seconds',
    'vialog_projection_events_applied',
    'vialog_projection_failed',
    'vialog_eventstore_horizon_age_seconds',
    'vialog_eventstore_events_waiting',
    'vialog_llm_calls_total',
    'vialog_llm_duration',
    'vialog_llm_tokens_total',
    'vialog_rate_limit_rejections_total',
    'vialog_event_loop_lag',
  ];
  const files = readdirSync('deploy/grafana/dashboards').filter((f) => f.endsWith('.json'));
  t.true(files.length >= 3);
  for (const file of files) {
    const board = JSON.parse(read(`deploy/grafana/dashboards/${file}`)) as {
      panels: { targets: { expr: string }[] }[];
    };
    for (const expr of board.panels.flatMap((p) => p.targets.map((x) => x.expr))) {
      // A metric name stands before a selector, a range or a closing parenthesis: name{…}, name[5m], (name).
      const labels = new Set(['http_route', 'http_response_status_code', 'http_request_method']);
      const metrics = [...expr.matchAll(/\b((?:vialog|http)_[a-z_]+?)(?:_bucket|_count|_sum)?(?=[{[)\s]|$)/g)]
        .map((m) => m[1]!)
        .filter((name) => !labels.has(name));
      t.true(metrics.length > 0, `${file}: ${expr}`);
      for (const metric of metrics) t.true(exported.includes(metric), `${file}: ${metric}`);
    }
  }
});

test('Kubernetes: API with Service and HPA, projector, config and secrets with known variables', (t) => {
  const docs = parseAllDocuments(read('deploy/k8s/vialog.yaml')).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string };
        data?: Record<string, string>;
        stringData?: Record<string, string>;
      },
  );
  t.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(), [
    'ConfigMap/vialog-config',
    'Deployment/vialog-api',
    'Deployment/vialog-projector',
    'HorizontalPodAutoscaler/vialog-api',
    'Secret/vialog-secrets',
    'Service/vialog-api',
  ]);
  for (const doc of docs)
    for (const key of Object.keys(doc.data ?? doc.stringData ?? {}))
      t.true(knownVariables.has(key), `${doc.kind}: ${key}`);
  // Behind the ingress: trust exactly its one hop, never "whatever X-Forwarded-For says".
  const config = docs.find((d) => d.kind === 'ConfigMap')!.data!;
  t.is(config.TRUST_PROXY_HOPS, '1');
  t.false('TRUST_PROXY' in config, 'the hop count, not the older boolean');
});

test('GitHub workflows: CI with the three service containers and the audit, a scheduled bench keeping its results, releases on tags', (t) => {
  type Workflow = {
    on: Record<string, unknown>;
    jobs: Record<
      string,
      {
        services?: Record<string, unknown>;
        steps: { run?: string; uses?: string; with?: Record<string, unknown>; env?: Record<string, string> }[];
      }
    >;
  };
  const workflow = (name: string) => parse(read(`.github/workflows/${name}`)) as Workflow;
  const ci = Object.values(workflow('ci.yml').jobs)[0]!;
  t.deepEqual(Object.keys(ci.services ?? {}).sort(), ['eventstore', 'postgres', 'redis']);
  t.true(ci.steps.some((s) => s.run === 'npm test'));
  t.true(ci.steps.some((s) => s.run === 'npm run audit:deps' && s.env?.VIALOG_REQUIRE_AUDIT === '1'));
  const bench = workflow('bench.yml');
  t.truthy(bench.on.schedule, 'scheduled');
  const benchSteps = Object.values(bench.jobs)[0]!.steps;
  t.true(benchSteps.some((s) => s.run === 'npm run bench'));
  t.true(benchSteps.some((s) => s.uses?.startsWith('actions/upload-artifact') && s.with?.path === 'bench/results/'));
  const release = workflow('release.yml');
  t.truthy((release.on.push as { tags?: unknown } | undefined)?.tags, 'runs on version tags');
  t.true(existsSync('.github/dependabot.yml') && existsSync('.github/workflows/codeql.yml'));
});

test('release workflow: the image gets an SBOM and a build provenance attestation, signed for its digest', (t) => {
  type Step = { id?: string; uses?: string; with?: Record<string, unknown> };
  type Workflow = { permissions: Record<string, string>; jobs: Record<string, { steps: Step[] }> };
  const release = parse(read('.github/workflows/release.yml')) as Workflow;
  t.like(release.permissions, { 'id-token': 'write', attestations: 'write', packages: 'write' });
  const steps = Object.values(release.jobs)[0]!.steps;
  const using = (action: string) => steps.find((s) => s.uses?.startsWith(`${action}@`));
  for (const step of steps.filter((s) => s.uses)) t.regex(step.uses!, /@v\d+$/, `${step.uses}: a pinned major version`);
  const build = using('docker/build-push-action');
  t.like(build?.with, { push: true, sbom: true, provenance: 'mode=max' }, 'BuildKit attaches an SBOM and provenance');
  const digest = `\${{ steps.${build?.id}.outputs.digest }}`;
  t.like(using('actions/attest-build-provenance')?.with, { 'subject-digest': digest, 'push-to-registry': true });
  const sbom = using('anchore/sbom-action')?.with;
  t.truthy(sbom?.['output-file']);
  const attestSbom = using('actions/attest-sbom')?.with;
  t.like(attestSbom, { 'subject-digest': digest, 'sbom-path': sbom?.['output-file'], 'push-to-registry': true });
});
