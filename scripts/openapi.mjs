#!/usr/bin/env node
// Writes docs/openapi.json: the OpenAPI document exactly as a server built from this checkout
// serves it at /openapi.json. `npm run openapi` builds first; test/http/openapi.test.ts fails
// while the committed file differs from what the server generates.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLatchkey, loadConfig } from 'latchkey';

const out = new URL('../docs/openapi.json', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-openapi-'));
try {
  // Whatever the environment says: the document must not depend on where it was generated.
  const latchkey = await createLatchkey(loadConfig({ LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'warn' }));
  try {
    const res = await latchkey.app.inject({ method: 'GET', url: '/openapi.json' });
    if (res.statusCode !== 200) throw new Error(`GET /openapi.json answered ${res.statusCode}: ${res.body}`);
    writeFileSync(out, res.body);
    console.log(`wrote ${out}`);
  } finally {
    await latchkey.close();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
