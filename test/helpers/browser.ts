import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';

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
