// /docs: Swagger UI (the swagger-ui-dist package), served by the service itself so the page works
// on a closed network. Only the files the page needs are served, under /docs/assets/, their names
// carrying a hash of their content so a browser may keep them for good. Swagger UI's own
// index.html starts it with an inline script; here a small script of ours does, so the page's CSP
// allows scripts from this origin only (security-headers.ts).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { HttpProblem } from './problem.ts';
import { documentSecurityHeaders } from './security-headers.ts';

export const DOCS_ASSETS_PREFIX = '/docs/assets/';
const OPENAPI_URL = '/api/v1/openapi.json';

// Tokens typed into "Authorize" stay in the page's memory (persistAuthorization off: nothing in
// localStorage); the spec URL cannot be replaced from the query string (queryConfigEnabled off).
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_URL)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  filter: true,
  displayRequestDuration: true,
  persistAuthorization: false,
  queryConfigEnabled: false,
  validatorUrl: null,
});
`;

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzipped: Buffer | undefined;
}

interface DocsAssets {
  /** Fingerprinted URL path → file. */
  readonly byPath: ReadonlyMap<string, Asset>;
  /** Plain name → fingerprinted URL path, for the page. */
  readonly urls: Readonly<Record<'css' | 'bundle' | 'init' | 'icon', string>>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};

async function asset(name: string, body: Buffer): Promise<[string, Asset]> {
  const extension = path.extname(name);
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  const urlPath = `${DOCS_ASSETS_PREFIX}${path.basename(name, extension)}.${hash}${extension}`;
  const type = TYPES[extension]!;
  // Text compresses to about a quarter; a PNG does not compress.
  const gzipped = type.startsWith('text/') ? await promisify(gzip)(body) : undefined;
  return [urlPath, { type, body, gzipped }];
}

async function loadAssets(): Promise<DocsAssets> {
  const dist = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const fromDist = async (file: string) => asset(file, await readFile(path.join(dist, file)));
  const entries = await Promise.all([
    fromDist('swagger-ui.css'),
    fromDist('swagger-ui-bundle.js'),
    asset('docs-init.js', Buffer.from(INIT_SCRIPT)),
    fromDist('favicon-32x32.png'),
  ]);
  const [css, bundle, init, icon] = entries.map(([urlPath]) => urlPath) as [string, string, string, string];
  return { byPath: new Map(entries), urls: { css, bundle, init, icon } };
}

let loading: Promise<DocsAssets> | undefined;
/** Read on the first request for the page, once per process (the bundle is about 1.5 MB). */
const docsAssets = (): Promise<DocsAssets> => (loading ??= loadAssets());

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, urls: DocsAssets['urls']): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} API</title>
<link rel="stylesheet" href="${urls.css}">
<link rel="icon" type="image/png" href="${urls.icon}" sizes="32x32">
<script defer src="${urls.bundle}"></script>
<script defer src="${urls.init}"></script>
</head>
<body>
<noscript>This page needs JavaScript. The OpenAPI document is at <a href="${OPENAPI_URL}">${OPENAPI_URL}</a>.</noscript>
<div id="swagger-ui"></div>
</body>
</html>
`;
}

function sendAsset(ctx: Context, file: Asset): void {
  ctx.type = file.type;
  ctx.set('Cache-Control', 'public, max-age=31536000, immutable'); // the name changes with the content
  ctx.vary('Accept-Encoding');
  if (file.gzipped && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
    ctx.set('Content-Encoding', 'gzip');
    ctx.body = file.gzipped;
  } else {
    ctx.body = file.body;
  }
}

/** GET /docs (the page) and GET /docs/assets/<file> (what it loads; any other name is a 404). */
export function addDocsPage(router: Router, info: { title: string }): void {
  router.get('/docs', documentSecurityHeaders(), async (ctx) => {
    const { urls } = await docsAssets();
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page(info.title, urls);
  });
  router.get(`${DOCS_ASSETS_PREFIX}:file`, async (ctx) => {
    const file = (await docsAssets()).byPath.get(ctx.path);
    if (!file) throw new HttpProblem(404, 'not_found', 'No such file.');
    sendAsset(ctx, file);
  });
}
