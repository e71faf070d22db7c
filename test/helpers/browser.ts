import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

/** What the demo page (web/app.ts) counts and exposes as `window.__latchkeyDemo`, for tests to read. */
export interface DemoStats {
  apiOk: number;
  apiFailed: number;
  refreshRequests: number;
  renewalsSeen: number;
  signedOut: null | { reason: string; at: number };
  lastError: string;
  keyBound: null | boolean;
  theft: null | { status: number; reason: string | null; at: number };
}

/** The demo page's counters, read from the page. */
export const demoStats = (p: Page): Promise<DemoStats> => p.evaluate(() => (window as unknown as { __latchkeyDemo: DemoStats }).__latchkeyDemo);

/** Bundles a page script (ESM source importing the packages) for the browser, from the repository root. */
export async function bundleForBrowser(entry: string): Promise<string> {
  const bundle = await build({
    stdin: { contents: entry, resolveDir: join(import.meta.dirname, '..', '..'), loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    logLevel: 'silent',
  });
  return bundle.outputFiles[0]!.text;
}

/** Debian's Chromium, headless, with the flags this sandbox needs (no background network calls). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
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
