// /docs in a real browser (headless Chromium) against the whole running service: Swagger UI
// renders the operations, loads nothing from elsewhere, breaks no rule of its CSP, and "try it"
// works with a bearer token typed into "Authorize".
import test, { type ExecutionContext } from 'ava';
import type { Browser, Page } from 'playwright-core';
import { chromiumRequired, chromiumSkipReason, launchChromium } from '../support/chromium.ts';
import { newUser, startTestService, type TestService } from '../support/service.ts';

const skipReason = chromiumSkipReason();
if (skipReason && chromiumRequired) {
  test('Chromium is installed (VIALOG_TEST_REQUIRE_CHROMIUM=1)', (t) => t.fail(skipReason));
} else if (skipReason) {
  console.log(`[skip] /docs in a browser: ${skipReason}`);
}
const browserTest = skipReason ? test.skip : test;

let service: TestService;
let browser: Browser;

test.before(async () => {
  if (skipReason) return;
  [service, browser] = await Promise.all([startTestService(), launchChromium()]);
});

test.after.always(async () => {
  await browser?.close();
  await service?.stop();
});

interface Visit {
  readonly page: Page;
  /** Every URL the page requested. */
  readonly requests: string[];
  /** Console errors, CSP violations among them. */
  readonly errors: string[];
}

/** Opens /docs in a new, empty browser context and waits for Swagger UI to render the operations. */
async function openDocs(t: ExecutionContext): Promise<Visit> {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${service.url}/docs`);
  await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
  return { page, requests, errors };
}

/** The operation's block, by method and path as the OpenAPI document has them. */
const operation = (page: Page, method: string, path: string) =>
  page.locator(`.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });

browserTest('Swagger UI renders the tags and operations of the OpenAPI document', async (t) => {
  const { page } = await openDocs(t);
  const tags = await page.locator('.opblock-tag').evaluateAll((els) => els.map((el) => el.getAttribute('data-tag')));
  for (const tag of ['auth', 'samples']) t.true(tags.includes(tag), `tag ${tag} in ${tags.join(', ')}`);
  for (const [method, path] of [
    ['post', '/api/v1/auth/login'],
    ['get', '/api/v1/auth/me'],
    ['post', '/api/v1/samples'],
    ['get', '/api/v1/samples'],
    ['get', '/api/v1/samples/{id}'],
  ] as const) {
    t.is(await operation(page, method, path).count(), 1, `${method.toUpperCase()} ${path}`);
  }
});

browserTest('the page loads nothing from elsewhere and breaks no rule of its CSP', async (t) => {
  const { page, requests, errors } = await openDocs(t);
  await page.waitForLoadState('networkidle');
  t.true(requests.includes(`${service.url}/api/v1/openapi.json`));
  t.deepEqual(
    requests.filter((url) => !url.startsWith(`${service.url}/`) && !url.startsWith('data:')),
    [],
  );
  t.deepEqual(errors, [], 'no console error (a CSP violation is one)');
});

browserTest('"Try it out" on GET /api/v1/auth/me with a token from "Authorize" shows the 200 answer', async (t) => {
  const user = await newUser(service.api, 'docs');
  const { page } = await openDocs(t);
  await page.locator('.auth-wrapper button.authorize').click();
  await page.locator('#auth-bearer-value').fill(user.accessToken);
  const bearerForm = page.locator('.auth-container', { has: page.locator('#auth-bearer-value') });
  await bearerForm.locator('button[type=submit]').click();
  await page.locator('.modal-ux button.btn-done').first().click();

  const me = operation(page, 'get', '/api/v1/auth/me');
  await me.locator('.opblock-summary').click();
  await me.locator('button.try-out__btn').click();
  await me.locator('button.execute').click();

  const answer = me.locator('.live-responses-table .response');
  await answer.waitFor({ timeout: 30_000 });
  t.is((await answer.locator('.response-col_status').innerText()).trim(), '200');
  t.regex(await answer.locator('.response-col_description').innerText(), new RegExp(`"username": "${user.username}"`));
});
