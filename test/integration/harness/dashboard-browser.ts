// Opens a dashboard login URL in Debian's chromium (playwright-core) and collects the page's console
// errors and uncaught exceptions, which the dashboard tests require to stay empty.
import type { Browser, Page } from 'playwright-core';
import { chromiumPath } from '../replay-helpers/servers.js';

/** The little of the DOM the page-side predicates use (tests compile without the DOM's types; the page's CSP forbids string eval). */
export interface El {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(sel: string): El | null;
}
export interface Doc {
  querySelector(sel: string): El | null;
  querySelectorAll(sel: string): ArrayLike<El>;
}

export interface DashboardBrowser {
  browser: Browser;
  page: Page;
  /** `url: message` of every console error and page error so far. */
  consoleErrors: string[];
}

/** Logs in with `loginUrl` (what `berth dashboard --json` prints) and waits for the Overview. */
export async function openDashboard(loginUrl: string): Promise<DashboardBrowser> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  await page.goto(loginUrl);
  await page.waitForSelector('[data-testid=view-overview]');
  return { browser, page, consoleErrors };
}
