import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium package, which .ci/run installs when it is missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium with nothing that reaches past the loopback interface. Playwright gives it a
 * fresh profile in a temporary folder of its own (it refuses --user-data-dir with launch()).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
