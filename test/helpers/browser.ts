import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/**
 * Debian's Chromium, headless, through playwright-core. scripts/ensure-chromium.sh installs it (npm test runs it).
 * The flags keep it off the network (this machine has none) and quiet; Playwright gives it a fresh temporary profile.
 */
export async function launchBrowser(): Promise<{ browser: Browser; newContext(): Promise<BrowserContext>; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: process.env.LATCHKEY_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic', '--disable-dev-shm-usage',
    ],
  });
  return {
    browser,
    newContext: () => browser.newContext(),
    async close() {
      await browser.close();
    },
  };
}
