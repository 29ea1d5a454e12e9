// Headless Chromium for browser tests: Debian's `chromium` package (or VIALOG_CHROMIUM_PATH),
// driven by playwright-core, which downloads no browser. Without one the browser tests are skipped
// with the reason printed; with VIALOG_TEST_REQUIRE_CHROMIUM=1 (.ci/run sets it) that is a failure.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const chromiumPath = process.env.VIALOG_CHROMIUM_PATH || '/usr/bin/chromium';
export const chromiumRequired = process.env.VIALOG_TEST_REQUIRE_CHROMIUM === '1';

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumSkipReason(): string | undefined {
  if (existsSync(chromiumPath)) return undefined;
  return `no Chromium at ${chromiumPath} (apt-get install chromium, or set VIALOG_CHROMIUM_PATH; .ci/run installs it)`;
}

// Nothing the browser does on its own: no updates, sync, QUIC or other background traffic.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Chromium with a new, empty profile (playwright's launch() makes a temporary one and removes it on close). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ARGS });
}
