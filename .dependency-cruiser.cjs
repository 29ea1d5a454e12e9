// The house rules on who may import whom, checked by `npm run depcheck` (part of `npm test`).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'platform-knows-no-module',
      comment: 'platform/ is shared machinery: it must not import a module, a projection or the app.',
      severity: 'error',
      from: { path: '^platform/' },
      to: { path: '^(modules|projections|app)/' },
    },
    {
      name: 'modules-talk-through-events',
      comment: "A module may import another module's events.ts (its public contract) and nothing else of it.",
      severity: 'error',
      from: { path: '^modules/([^/]+)/' },
      to: { path: '^modules/([^/]+)/', pathNot: ['^modules/$1/', '^modules/[^/]+/events\\.ts$'] },
    },
    {
      name: 'projections-read-only-module-events',
      comment: 'A projection builds read models from events: it imports modules only through events.ts.',
      severity: 'error',
      from: { path: '^projections/' },
      to: { path: '^modules/', pathNot: '^modules/[^/]+/events\\.ts$' },
    },
    {
      name: 'no-app-from-below',
      comment: 'app/ is the composition root; nothing below may depend on it.',
      severity: 'error',
      from: { path: '^(modules|platform|projections)/' },
      to: { path: '^app/' },
    },
    {
      name: 'no-test-code-in-production',
      severity: 'error',
      from: { path: '^(modules|platform|projections|app)/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
