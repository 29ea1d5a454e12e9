// The house rules on who may import whom, checked by `npm run depcheck` (part of `npm test`).
/** A forbidden import: no file matching `from` may import one matching `to`. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from, to });

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    forbid(
      'platform-knows-no-module',
      'platform/ is shared machinery: it must not import a module, a projection or the app.',
      { path: '^platform/' },
      { path: '^(modules|projections|app)/' },
    ),
    forbid(
      'modules-talk-through-events',
      "A module may import another module's events.ts (its public contract) and nothing else of it.",
      { path: '^modules/([^/]+)/' },
      { path: '^modules/([^/]+)/', pathNot: ['^modules/$1/', '^modules/[^/]+/events\\.ts$'] },
    ),
    forbid(
      'projections-read-only-module-events',
      'A projection builds read models from events: it imports modules only through events.ts.',
      { path: '^projections/' },
      { path: '^modules/', pathNot: '^modules/[^/]+/events\\.ts$' },
    ),
    forbid(
      'no-app-from-below',
      'app/ is the composition root; nothing below may depend on it.',
      { path: '^(modules|platform|projections)/' },
      { path: '^app/' },
    ),
    forbid(
      'no-test-code-in-production',
      'Tests and benchmarks are not shipped: production code must not need them.',
      { path: '^(modules|platform|projections|app)/' },
      { path: '^(test|bench)/' },
    ),
    forbid('no-circular', 'An import cycle makes load order matter and modules inseparable.', {}, { circular: true }),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
