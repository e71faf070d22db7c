// Consumer tests: every package packed, installed from its tarball into a fresh project outside the
// repository, and used as its users would, from plain Node (ESM and require), a browser bundle,
// a strict TypeScript project, and `npx latchkey start`. The figures the closing notes quote
// (tarball size, files, install time, dependency count, cold import time) are printed as
// diagnostics ("# package …" lines) and written to test-results/packages.json.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { FastifyInstance } from 'fastify';
import { launchChromium } from '../helpers/browser.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';
import { freePort } from '../harness/free-port.js';
import { coldImportMs, consumer, packAll, REPO, tempRoot, type Consumer, type PackageDir, type Tarball } from './harness.js';

const report: Record<string, Record<string, unknown>> = {};
function record(pkg: string, figures: Record<string, unknown>, t: { diagnostic(m: string): void }): void {
  report[pkg] = { ...report[pkg], ...figures };
  t.diagnostic(`package ${pkg}: ${JSON.stringify(figures)}`);
}

/** npm's warnings, less the one kind that says nothing about our packages: funding/audit are off already. */
function warnings(log: string): string[] {
  return log.split('\n').filter((l) => /npm warn|EBADENGINE/i.test(l));
}

let root: string;
let tarballs: Record<PackageDir, Tarball>;
let server: TestServer;
let libs: Consumer;

describe('packages installed from their tarballs, outside the repository', { timeout: 900_000 }, () => {
  before(async () => {
    root = tempRoot();
    tarballs = packAll(root);
    // The issuer is the exact URL the verifier fetches metadata from.
    const port = await freePort();
    server = await startServer({ PORT: String(port), LATCHKEY_ISSUER: `http://127.0.0.1:${port}` }, { plugins: [consumerPage] });
    libs = consumer('libs', [tarballs.core.path, tarballs.client.path, tarballs.verify.path]);
  });

  after(async () => {
    await server?.close();
    libs?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
    mkdirSync(join(REPO, 'test-results'), { recursive: true });
    writeFileSync(join(REPO, 'test-results', 'packages.json'), `${JSON.stringify(report, null, 2)}\n`);
  });

  it('tarballs hold compiled JavaScript, declarations, README and LICENSE only', (t) => {
    for (const tb of Object.values(tarballs)) {
      const offenders = tb.files.filter(
        (f) => !(/^dist\/.+\.(js|d\.ts)$/.test(f) || /^(README\.md|LICENSE|package\.json)$/.test(f) || (tb.dir === 'server' && /^demo\/(app\.js|index\.html|style\.css)$/.test(f)) ||
          // The common-password list and its licence (SecLists, MIT).
          (tb.dir === 'server' && /^assets\/common-passwords-100k\.(txt|LICENSE)$/.test(f))),
      );
      assert.deepEqual(offenders, [], `${tb.dir}: unexpected files in the tarball`);
      assert.ok(tb.files.includes('dist/index.js') && tb.files.includes('dist/index.d.ts'), `${tb.dir}: entry point missing`);
      assert.ok(!tb.files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), `${tb.dir}: TypeScript sources shipped`);
      record(tb.dir, { tarballBytes: tb.bytes, files: tb.files.length }, t);
    }
    assert.ok(tarballs.server.files.includes('dist/cli.js'));
  });

  it('the client installs nothing else; the verifier nothing but @latchkey/core; no install warnings', (t) => {
    const only = (c: Consumer, names: string[]) => assert.deepEqual(c.installed().map((n) => n.replace(/@[^@]+$/, '')).sort(), names.sort());
    const client = consumer('client-only', [tarballs.client.path]);
    try {
      only(client, ['@latchkey/client']);
      assert.deepEqual(warnings(client.installLog), [], client.installLog);
      record('client', { installMs: Math.round(client.installMs), dependencies: client.installed().length - 1, coldImportMs: +coldImportMs(client, '@latchkey/client').toFixed(1) }, t);
    } finally {
      client.remove();
    }
    const verify = consumer('verify-only', [tarballs.core.path, tarballs.verify.path]);
    try {
      only(verify, ['@latchkey/core', '@latchkey/verify']);
      assert.deepEqual(warnings(verify.installLog), [], verify.installLog);
      record('verify', { installMs: Math.round(verify.installMs), dependencies: verify.installed().length - 1, coldImportMs: +coldImportMs(verify, '@latchkey/verify').toFixed(1) }, t);
      record('core', { coldImportMs: +coldImportMs(verify, '@latchkey/core').toFixed(1) }, t);
    } finally {
      verify.remove();
    }
  });

  it('(a) @latchkey/verify from a plain .mjs verifies a real access token and refuses a tampered one', async () => {
    const { access_token: token } = await signup(server.url);
    libs.write(
      'verify.mjs',
      `import { createVerifier, isVerifyError } from '@latchkey/verify';
const [issuer, token] = process.argv.slice(2);
const verifier = createVerifier({ issuer, audience: issuer });
const claims = await verifier.verify(token);
const last = token.at(-2) === 'A' ? 'B' : 'A';
const tampered = token.slice(0, -2) + last + token.at(-1);
let refused = null;
try { await verifier.verify(tampered); } catch (e) { refused = isVerifyError(e) ? e.code : String(e); }
await verifier.close();
console.log(JSON.stringify({ sub: claims.sub, sid: claims.sid, frozen: Object.isFrozen(claims), refused }));
`,
    );
    const r = await libs.run('verify.mjs', [server.url, token]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { sub: string; frozen: boolean; refused: string };
    assert.match(out.sub, /^[0-9a-f-]{36}$/);
    assert.equal(out.frozen, true);
    assert.equal(out.refused, 'invalid_token');
  });

  it('require() of both libraries works on Node 20', async () => {
    libs.write(
      'require.cjs',
      `const verify = require('@latchkey/verify');
const client = require('@latchkey/client');
console.log(JSON.stringify([typeof verify.createVerifier, typeof verify.latchkeyExpress, typeof client.createClient, typeof client.memoryStorage]));
`,
    );
    const r = await libs.run('require.cjs');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['function', 'function', 'function', 'function']);
  });

  it('(b) @latchkey/client from plain Node: sign up, log in, call an API, renew, log out', async () => {
    libs.write(
      'client.mjs',
      `import { createClient, isLatchkeyError } from '@latchkey/client';
const [baseUrl, email] = process.argv.slice(2);
const password = 'correct horse battery staple';
const steps = [];
const a = createClient({ baseUrl });
a.on('signedout', (e) => steps.push('signedout:' + e.reason));
await a.signup(email, password);
steps.push('signup:' + (await a.me()).email);
await a.logout();
const auth = createClient({ baseUrl });
await auth.login(email, password);
const api = await auth.fetch(baseUrl + '/auth/sessions');
steps.push('api:' + api.status);
const before = await auth.getAccessToken();
await auth.renewNow();
const afterRenew = await auth.getAccessToken();
steps.push('renewed:' + (before !== afterRenew));
await auth.logout();
try { await auth.me(); steps.push('me after logout: ok?!'); } catch (e) { steps.push('after logout:' + (isLatchkeyError(e) ? e.code : String(e))); }
console.log(JSON.stringify(steps));
`,
    );
    const email = `consumer-${Date.now()}@example.com`;
    const r = await libs.run('client.mjs', [server.url, email]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [`signup:${email}`, 'signedout:logout', 'api:200', 'renewed:true', 'after logout:not_signed_in']);
  });

  it('(c) @latchkey/client bundled for the browser by esbuild, driven in Chromium', async () => {
    libs.write(
      'browser-entry.js',
      `import { createClient, localStorageStorage } from '@latchkey/client';
window.runFlow = async (email) => {
  const steps = [];
  const auth = createClient({ baseUrl: '', storage: localStorageStorage('consumer') });
  await auth.signup(email, 'correct horse battery staple');
  steps.push('me:' + (await auth.me()).email);
  steps.push('api:' + (await auth.fetch('/auth/sessions')).status);
  await auth.renewNow();
  steps.push('still signed in:' + (await auth.isSignedIn()));
  await auth.logout();
  steps.push('signed in after logout:' + (await auth.isSignedIn()));
  return steps;
};
`,
    );
    // esbuild resolves @latchkey/client from the consumer's node_modules (absWorkingDir), not the repo's.
    const out = await build({ entryPoints: ['browser-entry.js'], absWorkingDir: libs.dir, bundle: true, write: false, format: 'esm', platform: 'browser', logLevel: 'silent' });
    bundleText = out.outputFiles[0]!.text;
    assert.doesNotMatch(bundleText, /node:|require\(/, 'a browser bundle needs no Node built-ins');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}/consumer/`);
      await page.waitForFunction(() => typeof (window as unknown as { runFlow?: unknown }).runFlow === 'function');
      const email = `browser-${Date.now()}@example.com`;
      const steps = await page.evaluate((e) => (window as unknown as { runFlow(e: string): Promise<string[]> }).runFlow(e), email);
      assert.deepEqual(steps, [`me:${email}`, 'api:200', 'still signed in:true', 'signed in after logout:false']);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  it('(d) the public types compile in a strict consumer under node16 and bundler resolution', () => {
    libs.write(
      'use.ts',
      `import { createClient, isLatchkeyError, memoryStorage, type LatchkeyClient, type SignedOutReason } from '@latchkey/client';
import { createVerifier, latchkeyExpress, toRfc6750, VerifyError, type VerifiedClaims } from '@latchkey/verify';

const auth: LatchkeyClient = createClient({ baseUrl: 'https://auth.example.com', storage: memoryStorage() });
auth.on('signedout', (e) => {
  const why: SignedOutReason = e.reason;
  void why;
});
export async function call(): Promise<number> {
  try {
    return (await auth.fetch('https://api.example.com/orders')).status;
  } catch (e) {
    if (isLatchkeyError(e)) return e.status ?? 0;
    throw e;
  }
}
const verifier = createVerifier({ issuer: 'https://auth.example.com', audience: 'https://api.example.com' });
export async function subject(token: string): Promise<string> {
  const claims: VerifiedClaims = await verifier.verify(token);
  return claims.sub;
}
export const middleware = latchkeyExpress({ verifier });
export const challenge = toRfc6750(new VerifyError('invalid_token', 'expired')).headers['WWW-Authenticate'];

// What must not compile:
// @ts-expect-error baseUrl is required
createClient({});
// @ts-expect-error exactOptionalPropertyTypes: an optional member is absent, not undefined
createClient({ baseUrl: '', clientId: undefined });
// @ts-expect-error the audience is required
createVerifier({ issuer: 'https://auth.example.com' });
export async function mutate(token: string): Promise<void> {
  const claims = await verifier.verify(token);
  // @ts-expect-error verified claims are read-only
  claims.sub = 'someone else';
}
auth.on('signedout', (e) => {
  // @ts-expect-error a sign-out reason is one of a closed set
  const nonsense: 'nonsense' = e.reason;
  void nonsense;
});
`,
    );
    libs.write('deep-import.ts', `// @ts-expect-error only the documented entry points are exported\nimport { createVerifier } from '@latchkey/verify/dist/verifier.js';\nexport { createVerifier };\n`);
    const strict = {
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noPropertyAccessFromIndexSignature: true,
      noEmit: true,
      skipLibCheck: false,
      target: 'ES2022',
      lib: ['ES2023', 'DOM'],
      types: ['node'],
      typeRoots: [join(REPO, 'node_modules', '@types')],
    };
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const [name, resolution] of [
      ['node16', { module: 'node16', moduleResolution: 'node16' }],
      ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
    ] as const) {
      libs.write(`tsconfig.${name}.json`, JSON.stringify({ compilerOptions: { ...strict, ...resolution }, files: ['use.ts', 'deep-import.ts'] }));
      const r = spawnSync(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], { cwd: libs.dir, encoding: 'utf8' });
      assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
    }
    // The check can fail: a type error in the consumer's own code is reported.
    libs.write('broken.ts', `import { createVerifier } from '@latchkey/verify';\nexport const v: number = createVerifier({ issuer: 'x', audience: 'y' });\n`);
    libs.write('tsconfig.broken.json', JSON.stringify({ compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16' }, files: ['broken.ts'] }));
    const broken = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.broken.json'], { cwd: libs.dir, encoding: 'utf8' });
    assert.notEqual(broken.status, 0);
    assert.match(broken.stdout, /TS2322/);
  });

  it('(e) latchkey from its tarball: npx latchkey start answers /healthz and stops on SIGTERM', async (t) => {
    // npm 11 asks a project to approve dependencies' install scripts; better-sqlite3 compiles its
    // native addon in one, so a user approves it (as the server README says).
    const srv = consumer('server', [tarballs.core.path, tarballs.server.path], { allowScripts: { 'better-sqlite3': true } });
    try {
      assert.deepEqual(warnings(srv.installLog), [], srv.installLog);
      const deps = srv.installed();
      assert.ok(!deps.some((d) => /^(tsx|esbuild|typescript)@/.test(d)), `build tools installed: ${deps.join(', ')}`);
      record('server', { installMs: Math.round(srv.installMs), dependencies: deps.length - 1 }, t);
      record('server', { coldImportMs: +coldImportMs(srv, 'latchkey').toFixed(1) }, t);

      const help = spawnSync('npx', ['--no-install', 'latchkey', '--help'], { cwd: srv.dir, encoding: 'utf8' });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /Usage: latchkey <command>/);
      assert.match(help.stdout, /start\s+run the server/);

      const port = await freePort();
      const dataDir = tempDataDir();
      const proc = spawn('npx', ['--no-install', 'latchkey', 'start'], {
        cwd: srv.dir,
        env: { ...process.env, PORT: String(port), LATCHKEY_DATA_DIR: dataDir, LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_ADMIN_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
      try {
        const deadline = Date.now() + 30_000;
        while (!out.includes('Latchkey listening on')) {
          assert.ok(Date.now() < deadline, `did not start:\n${out}`);
          assert.equal(proc.exitCode, null, `exited early:\n${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.match(out, new RegExp(`Latchkey listening on http://127\\.0\\.0\\.1:${port}, demo at http://127\\.0\\.0\\.1:${port}/demo/; stores: sqlite \\(`));
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        assert.equal(health.status, 200);
        const demo = await fetch(`http://127.0.0.1:${port}/demo/app.js`);
        assert.equal(demo.status, 200, 'the demo bundle ships in the package');
        const sent = Date.now();
        proc.kill('SIGTERM');
        await stopsListening(port, 10_000);
        // The listener closes first; the stores close after it, then the server logs "stopped".
        while (!out.includes('"msg":"stopped"')) {
          assert.ok(Date.now() - sent < 10_000, `no clean stop within 10 s of SIGTERM:\n${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        t.diagnostic(`npx latchkey start: stopped ${Date.now() - sent} ms after SIGTERM to npx`);
      } finally {
        proc.kill('SIGKILL');
        await exited;
        rmSync(dataDir, { recursive: true, force: true });
      }
    } finally {
      srv.remove();
    }
  });
});

let bundleText = '';

/** Same-origin test page for the browser consumer: the page and its bundle, served by the server. */
function consumerPage(app: FastifyInstance): void {
  app.get('/consumer/', async (_req, reply) =>
    reply
      .header('Content-Security-Policy', "default-src 'none'; script-src 'self'; connect-src 'self'")
      .type('text/html; charset=utf-8')
      .send('<!doctype html><meta charset="utf-8"><title>consumer</title><script type="module" src="/consumer/app.js"></script>'),
  );
  app.get('/consumer/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(bundleText));
}

async function signup(base: string): Promise<{ access_token: string; refresh_token: string }> {
  const r = await fetch(`${base}/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `verify-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`, password: 'correct horse battery staple' }),
  });
  assert.equal(r.status, 201);
  return (await r.json()) as { access_token: string; refresh_token: string };
}

async function stopsListening(port: number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) });
    } catch {
      return;
    }
    assert.ok(Date.now() < deadline, `still answering ${withinMs} ms after SIGTERM`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
