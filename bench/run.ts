// Latchkey benchmark runner: `npm run bench [-- SCENARIO ...] [--duration=S] [--warmup=S]
// [--connections=N] [--profile] [--out=FILE] [--server-root=DIR] [--compare-root=DIR] [--attackers=N]`.
// See BENCHMARKS.md.
//
// Every server under test is a child process (started by pid, stopped by pid); the load generator
// runs in this process (autocannon for stateless loads, an undici closed loop for refresh/login
// chains). Only 127.0.0.1 traffic; every load is bounded in time and in request count.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { cannon, type CannonResult } from './lib/cannon.js';
import { startLatchkey, seedBoundUsers, seedUsers, type BoundUser, type SeededUser } from './lib/latchkey.js';
import { closedLoop, once, type LoopRequest, type LoopResult } from './lib/loop.js';
import { cpuMeter, freePort, REPO_ROOT, sleep, startChild, startNodeTs, tempDir, waitForHttp, waitForReadyLine } from './lib/proc.js';
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.js';
import type { SignResult } from './sign.js';
import { runStorm, type StormFigures, type StormKind } from './storm.js';

// ---------------------------------------------------------------------------------------------
// Options

const ALL = [
  'baseline',
  'baseline-loop',
  'refresh',
  'refresh-nometrics',
  'login',
  'forged',
  'me',
  'redis',
  'redis-dpop',
  'oidc',
  'sign',
  'verify-dpop',
  'storm-signup',
  'storm-signup-1src',
  'storm-login',
  'storm-login-1',
  'baseline-end',
] as const;
type Scenario = (typeof ALL)[number];

const TITLES: Record<Scenario, string> = {
  baseline: 'bare Fastify POST (baseline)',
  'baseline-loop': 'bare Fastify POST, closed loop',
  refresh: 'refresh, embedded SQLite',
  'refresh-nometrics': 'refresh, embedded, metrics off',
  login: 'login (argon2id)',
  forged: 'forged refresh token -> 400',
  me: 'Bearer GET /auth/me',
  redis: 'refresh, Redis',
  'redis-dpop': 'refresh, Redis, DPoP-bound sessions (fresh ES256 proof each)',
  oidc: 'oidc-provider 9 refresh',
  sign: 'EdDSA sign micro-bench',
  'verify-dpop': '@latchkey/verify: raw signature vs cached Bearer vs DPoP-bound (fresh proof each call)',
  'storm-signup': 'login during a sign-up storm (existing address, spread sources)',
  'storm-signup-1src': 'login during a sign-up storm (one source)',
  'storm-login': 'login during a wrong-password storm (40 accounts, spread sources)',
  'storm-login-1': 'login during a wrong-password storm (the user’s account, one source)',
  'baseline-end': 'bare Fastify POST, again at the end',
};

function parseArgs(argv: string[]) {
  const opts = {
    durationSec: 10,
    warmupSec: 2,
    connections: 50,
    profile: false,
    out: null as string | null,
    serverRoot: null as string | null,
    compareRoot: null as string | null,
    attackers: 400,
    scenarios: [] as Scenario[],
  };
  for (const a of argv) {
    const [k, v] = a.split('=', 2) as [string, string | undefined];
    const num = () => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} needs a positive number`);
      return n;
    };
    if (k === '--duration') opts.durationSec = num();
    else if (k === '--warmup') {
      opts.warmupSec = Number(v ?? 0);
      if (!Number.isFinite(opts.warmupSec) || opts.warmupSec < 0) throw new Error('--warmup needs a number of seconds (0 or more)');
    }
    else if (k === '--connections') opts.connections = Math.floor(num());
    else if (k === '--profile') opts.profile = true;
    else if (k === '--out') opts.out = v ?? null;
    else if (k === '--server-root') opts.serverRoot = v ? resolve(v) : null;
    else if (k === '--compare-root') opts.compareRoot = v ? resolve(v) : null;
    else if (k === '--attackers') opts.attackers = Math.floor(num());
    else if (k === '--help' || k === '-h') {
      console.log(`usage: npm run bench -- [${ALL.join('|')} ...] [--duration=10] [--warmup=2] [--connections=50] [--profile] [--out=FILE] [--server-root=DIR] [--compare-root=DIR] [--attackers=400]`);
      process.exit(0);
    } else if ((ALL as readonly string[]).includes(k)) opts.scenarios.push(k as Scenario);
    else throw new Error(`unknown argument ${a} (scenarios: ${ALL.join(', ')})`);
  }
  if (opts.scenarios.length === 0) opts.scenarios = [...ALL];
  // Ratios need the baseline of the same run.
  if (!opts.scenarios.includes('baseline')) opts.scenarios.unshift('baseline');
  opts.scenarios = ALL.filter((s) => opts.scenarios.includes(s));
  return opts;
}

const opts = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  }
})();
const C = opts.connections;
const timing = { warmupSec: opts.warmupSec, durationSec: opts.durationSec };
const MAX_PER_WORKER = 200_000; // count bound for closed loops, far above what 10 s can reach
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'profiles');

// ---------------------------------------------------------------------------------------------
// Results

interface ScenarioResult {
  name: Scenario;
  title: string;
  generator: 'autocannon' | 'closed loop (undici)' | 'in-process' | '-';
  status: 'ok' | 'skipped' | 'failed';
  message?: string;
  rps?: number;
  p50?: number;
  p90?: number;
  p99?: number;
  max?: number;
  requests?: number;
  errors?: number;
  statuses?: Record<string, number>;
  /** CPU time of the server process(es) (all threads) per measured request, in µs. */
  serverCpuUsPerReq?: number | null;
  /** Cores busy on the server side / in the load generator during the measured window. */
  serverCores?: number | null;
  generatorCores?: number | null;
  checks: string[];
  profile?: ProfileSummary;
  sign?: SignResult[];
  verifyDpop?: SignResult[];
  /** Storm scenarios: this checkout's figures, and the --compare-root checkout's of the same run. */
  storm?: { current: StormFigures; compared: StormFigures | null };
}

const results: ScenarioResult[] = [];

type Meter = ReturnType<typeof cpuMeter>;

/** The baseline of this run: bare Fastify at the start, averaged with the end run when there is one. */
function baselineOf(field: 'rps' | 'serverCpuUsPerReq'): number | null {
  const vals = results
    .filter((r) => (r.name === 'baseline' || r.name === 'baseline-end') && r.status === 'ok')
    .map((r) => r[field])
    .filter((v): v is number => typeof v === 'number');
  return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
}

function cpuFields(m: Meter, requests: number | undefined, windowSec: number): Partial<ScenarioResult> {
  const r = m.result;
  if (!r) return {};
  return {
    serverCpuUsPerReq: r.serverCpuMs !== null && requests ? (r.serverCpuMs * 1000) / requests : null,
    serverCores: r.serverCpuMs !== null ? r.serverCpuMs / 1000 / windowSec : null,
    generatorCores: r.generatorCpuMs / 1000 / windowSec,
  };
}

function fromLoop(r: LoopResult<unknown>): Partial<ScenarioResult> {
  return { rps: r.rps, p50: r.p50, p90: r.p90, p99: r.p99, max: r.max, requests: r.requests, errors: r.errors + r.warmupErrors + r.duplicatesSent, statuses: r.statuses };
}

function fromCannon(r: CannonResult): Partial<ScenarioResult> {
  return { rps: r.rps, p50: r.p50, p90: r.p90, p99: r.p99, max: r.max, requests: r.requests, errors: r.errors + r.unexpectedStatus, statuses: r.statuses };
}

function loopChecks(r: LoopResult<unknown>, expectStatus: number, chains = false): string[] {
  const checks = [
    `${r.requests} measured responses, ${r.warmupRequests} warm-up`,
    `errors: ${r.errors} measured, ${r.warmupErrors} in warm-up`,
    `statuses: ${JSON.stringify(r.statuses)} (expected only ${expectStatus})`,
  ];
  if (chains) checks.push(`tokens sent twice: ${r.duplicatesSent}; chains unbroken: ${r.liveStates.length}`);
  if (r.firstError) checks.push(`first error: ${r.firstError}`);
  return checks;
}

function nodeFlags(name: string): string[] {
  if (!opts.profile) return [];
  const dir = join(PROFILE_DIR, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** One profile per thread is written (tsx's loader runs in a worker): keep the busiest, the main thread. */
function attachProfile(res: ScenarioResult): void {
  if (!opts.profile) return;
  const dir = join(PROFILE_DIR, res.name);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  const summaries = files.map((f) => summarizeProfile(join(dir, f)));
  summaries.sort((a, b) => b.busyMs - a.busyMs);
  if (summaries[0]) res.profile = summaries[0];
  else res.checks.push('no CPU profile was written');
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const JSON_HEADERS = { 'content-type': 'application/json' };

async function baselineServer(name: Scenario) {
  const port = await freePort();
  const child = startNodeTs(name, 'bench/servers/bare-fastify.ts', { PORT: String(port) }, nodeFlags(name));
  const origin = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${origin}/healthz`);
  return { origin, child };
}

// A body of the size of a refresh request, so parsing costs the same as on the token endpoint.
const BASELINE_BODY = JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(74) });

async function baseline(res: ScenarioResult): Promise<void> {
  const { origin, child } = await baselineServer(res.name);
  try {
    res.generator = 'autocannon';
    const meter = cpuMeter([child.proc.pid]);
    const r = await cannon({ url: `${origin}/echo`, connections: C, ...timing, method: 'POST', headers: JSON_HEADERS, body: BASELINE_BODY, expectStatus: 200, onWindow: meter });
    Object.assign(res, fromCannon(r), cpuFields(meter, r.requests, r.durationSec));
    res.checks.push(`statuses: ${JSON.stringify(r.statuses)}`, `socket errors/timeouts: ${r.errors}`);
  } finally {
    await child.stop();
  }
  attachProfile(res);
}

async function baselineLoop(res: ScenarioResult): Promise<void> {
  const { origin, child } = await baselineServer(res.name);
  try {
    res.generator = 'closed loop (undici)';
    const meter = cpuMeter([child.proc.pid]);
    const r = await closedLoop({
      origin,
      onWindow: meter,
      states: Array.from({ length: C }, () => 0),
      warmupMs: timing.warmupSec * 1000,
      durationMs: timing.durationSec * 1000,
      maxRequestsPerWorker: MAX_PER_WORKER,
      request: () => ({ method: 'POST', path: '/echo', headers: JSON_HEADERS, body: BASELINE_BODY }),
      onResponse: (s, status) => (status === 200 ? s : new Error(`status ${status}`)),
    });
    Object.assign(res, fromLoop(r), cpuFields(meter, r.requests, r.durationSec));
    res.checks.push(...loopChecks(r, 200));
  } finally {
    await child.stop();
  }
  attachProfile(res);
}

/** The closed refresh loop against any Latchkey origin; then every live chain must refresh once more. */
async function refreshChains(res: ScenarioResult, origin: string, users: SeededUser[], pids: Array<number | undefined>): Promise<void> {
  res.generator = 'closed loop (undici)';
  const meter = cpuMeter(pids);
  const r = await closedLoop({
    origin,
    onWindow: meter,
    states: users.map((u) => u.refreshToken),
    warmupMs: timing.warmupSec * 1000,
    durationMs: timing.durationSec * 1000,
    maxRequestsPerWorker: MAX_PER_WORKER,
    uniqueKey: (token) => token,
    request: (token) => ({
      method: 'POST',
      path: '/auth/token',
      headers: JSON_HEADERS,
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: token }),
    }),
    onResponse: (token, status, body) => {
      if (status !== 200) return new Error(`refresh answered ${status}`);
      const next = (JSON.parse(body) as { refresh_token?: string; access_token?: string }).refresh_token;
      if (!next || next === token) return new Error('no rotated refresh token in the response');
      return next;
    },
  });
  Object.assign(res, fromLoop(r), cpuFields(meter, r.requests, r.durationSec));
  res.checks.push(...loopChecks(r, 200, true));
  // Afterwards: no chain was flagged as reuse or broken, each final token still works once.
  let ok = 0;
  for (const token of r.liveStates) {
    const check = await once(origin, {
      method: 'POST',
      path: '/auth/token',
      headers: JSON_HEADERS,
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: token }),
    });
    if (check.status === 200) ok++;
  }
  res.checks.push(`after the run: ${ok}/${users.length} chains' last tokens still refresh`);
  if (ok !== users.length) res.errors = (res.errors ?? 0) + (users.length - ok);
}

async function refreshEmbedded(res: ScenarioResult, env: Record<string, string> = {}): Promise<void> {
  const server = await startLatchkey(res.name, { env, nodeFlags: nodeFlags(res.name), serverRoot: opts.serverRoot });
  try {
    const users = await seedUsers(server.origin, C);
    await refreshChains(res, server.origin, users, [server.child.proc.pid]);
  } finally {
    await server.stop();
  }
  attachProfile(res);
}

async function login(res: ScenarioResult): Promise<void> {
  // Each of the C users logs in thousands of times: above the default cap of 100 every login would
  // also end (and revoke) the user's oldest session. The cap is raised so the figure stays the
  // cost of a login alone, comparable with earlier runs.
  const server = await startLatchkey(res.name, { env: { LATCHKEY_MAX_SESSIONS: '100000' }, nodeFlags: nodeFlags(res.name), serverRoot: opts.serverRoot });
  try {
    const users = await seedUsers(server.origin, C);
    res.generator = 'closed loop (undici)';
    const meter = cpuMeter([server.child.proc.pid]);
    const r = await closedLoop({
      origin: server.origin,
      onWindow: meter,
      states: users,
      warmupMs: timing.warmupSec * 1000,
      durationMs: timing.durationSec * 1000,
      maxRequestsPerWorker: MAX_PER_WORKER,
      request: (u) => ({
        method: 'POST',
        path: '/auth/login',
        headers: { ...JSON_HEADERS, 'user-agent': 'latchkey-bench' },
        body: JSON.stringify({ email: u.email, password: u.password }),
      }),
      onResponse: (u, status, body) => {
        if (status !== 200) return new Error(`login answered ${status}`);
        if (!(JSON.parse(body) as { refresh_token?: string }).refresh_token) return new Error('no refresh token');
        return u;
      },
    });
    Object.assign(res, fromLoop(r), cpuFields(meter, r.requests, r.durationSec));
    res.checks.push(...loopChecks(r, 200));
  } finally {
    await server.stop();
  }
  attachProfile(res);
}

/** Canonical 74-character tokens of the right version and MAC key id with a random MAC: they pass
 * every cheap check and are refused only by the HMAC comparison (the most a forger can cost us). */
function forgedTokens(n: number): string[] {
  return Array.from({ length: n }, () => {
    const raw = randomBytes(55);
    raw.writeUInt8(1, 0);
    raw.writeUInt16BE(1, 1);
    return raw.toString('base64url');
  });
}

async function forged(res: ScenarioResult): Promise<void> {
  const server = await startLatchkey(res.name, { nodeFlags: nodeFlags(res.name), serverRoot: opts.serverRoot });
  try {
    const bodies = forgedTokens(256).map((t) => JSON.stringify({ grant_type: 'refresh_token', refresh_token: t }));
    const probe = await once(server.origin, { method: 'POST', path: '/auth/token', headers: JSON_HEADERS, body: bodies[0] });
    const probeBody = JSON.parse(probe.body) as { error?: string };
    if (probe.status !== 400 || probeBody.error !== 'invalid_grant') throw new Error(`forged token answered ${probe.status} ${probe.body}`);
    res.checks.push(`probe: 400 ${probe.body}`, 'tokens: 74 chars, version 1, MAC key id 1, random session/generation/MAC (256 distinct)');
    res.generator = 'autocannon';
    const meter = cpuMeter([server.child.proc.pid]);
    const r = await cannon({ url: `${server.origin}/auth/token`, connections: C, ...timing, method: 'POST', headers: JSON_HEADERS, bodies, expectStatus: 400, onWindow: meter });
    Object.assign(res, fromCannon(r), cpuFields(meter, r.requests, r.durationSec));
    res.checks.push(`statuses: ${JSON.stringify(r.statuses)} (expected only 400)`, `socket errors/timeouts: ${r.errors}`);
  } finally {
    await server.stop();
  }
  attachProfile(res);
}

async function me(res: ScenarioResult): Promise<void> {
  const server = await startLatchkey(res.name, { nodeFlags: nodeFlags(res.name), serverRoot: opts.serverRoot });
  try {
    const [user] = await seedUsers(server.origin, 1);
    const headers = { authorization: `Bearer ${user!.accessToken}` };
    const probe = await once(server.origin, { method: 'GET', path: '/auth/me', headers });
    if (probe.status !== 200) throw new Error(`/auth/me answered ${probe.status} ${probe.body}`);
    res.generator = 'autocannon';
    const meter = cpuMeter([server.child.proc.pid]);
    const r = await cannon({ url: `${server.origin}/auth/me`, connections: C, ...timing, method: 'GET', headers, expectStatus: 200, onWindow: meter });
    Object.assign(res, fromCannon(r), cpuFields(meter, r.requests, r.durationSec));
    res.checks.push(`statuses: ${JSON.stringify(r.statuses)}`, 'one access token on every connection: full EdDSA verification + revoked-set check + user lookup per request');
  } finally {
    await server.stop();
  }
  attachProfile(res);
}

/**
 * The refresh loop for DPoP-bound sessions (issue 11): each chain has its own ES256 key, every
 * request a fresh proof with the server nonce. Proofs are signed here, in the load generator; the
 * server's CPU per request is the figure to compare with the Bearer loop.
 */
/** Enough for a 10 s run at ~10k refreshes/s over 50 chains; signing them takes a few seconds before the run. */
const PROOFS_PER_CHAIN = 2000;

async function refreshBoundChains(res: ScenarioResult, origin: string, users: BoundUser[], pids: Array<number | undefined>): Promise<void> {
  // Proofs are signed here, in the generator: the server's CPU per request is the figure to compare.
  res.generator = 'closed loop (undici)';
  const meter = cpuMeter(pids);
  const tokenUrl = `${origin}/auth/token`;
  // A proof at the token endpoint names no token (RFC 9449 §4.2: `ath` is for resource requests), so
  // each chain's proofs are signed before the timed loop, as a client's device would sign its own:
  // the generator then spends no CPU on them during the run (on a 2-core box it would take the server's).
  const pools = new Map(users.map((u) => [u.key, Array.from({ length: PROOFS_PER_CHAIN }, () => u.key.proof(tokenUrl, 'POST'))]));
  const request = (u: BoundUser): LoopRequest => ({
    method: 'POST',
    path: '/auth/token',
    headers: { ...JSON_HEADERS, dpop: pools.get(u.key)!.pop() ?? u.key.proof(tokenUrl, 'POST') },
    body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: u.refreshToken }),
  });
  const r = await closedLoop({
    origin,
    onWindow: meter,
    states: users,
    warmupMs: timing.warmupSec * 1000,
    durationMs: timing.durationSec * 1000,
    maxRequestsPerWorker: MAX_PER_WORKER,
    uniqueKey: (u) => u.refreshToken,
    request,
    onResponse: (u, status, body) => {
      if (status !== 200) return new Error(`refresh answered ${status} ${body.slice(0, 120)}`);
      const b = JSON.parse(body) as { refresh_token?: string; token_type?: string };
      if (!b.refresh_token || b.refresh_token === u.refreshToken) return new Error('no rotated refresh token in the response');
      if (b.token_type !== 'DPoP') return new Error(`token_type ${b.token_type}: the session is not bound`);
      return { ...u, refreshToken: b.refresh_token };
    },
  });
  Object.assign(res, fromLoop(r), cpuFields(meter, r.requests, r.durationSec));
  res.checks.push(...loopChecks(r, 200, true));
  let ok = 0;
  for (const u of r.liveStates) if ((await once(origin, request(u))).status === 200) ok++;
  res.checks.push(`after the run: ${ok}/${users.length} bound chains' last tokens still refresh with their key`);
  if (ok !== users.length) res.errors = (res.errors ?? 0) + (users.length - ok);
}

async function redisRefresh(res: ScenarioResult, dpop: boolean): Promise<void> {
  const port = await freePort();
  const dir = tempDir('redis');
  const redis = startChild('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path], {});
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  probe.on('error', () => {}); // connection attempts before redis-server listens are expected
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if (probe.status !== 'ready') await probe.connect();
        await probe.ping();
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`redis-server did not answer: ${String(e)}\n${redis.output()}`);
        await sleep(100);
      }
    }
    let server;
    try {
      server = await startLatchkey(res.name, { env: { LATCHKEY_REDIS_URL: `redis://127.0.0.1:${port}` }, nodeFlags: nodeFlags(res.name), serverRoot: opts.serverRoot });
    } catch (e) {
      res.status = 'skipped';
      res.message = `Latchkey did not start with LATCHKEY_REDIS_URL: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
      return;
    }
    try {
      const bound = dpop ? await seedBoundUsers(server.origin, C) : null;
      const users = bound ?? (await seedUsers(server.origin, C));
      const keys = await probe.dbsize();
      if (keys === 0) {
        res.status = 'skipped';
        res.message = 'LATCHKEY_REDIS_URL was set but no session reached Redis (the server still uses SQLite sessions); scenario skipped';
        return;
      }
      res.checks.push(`${keys} Redis keys after ${users.length} sign-ups`);
      if (bound) await refreshBoundChains(res, server.origin, bound, [server.child.proc.pid, redis.proc.pid]);
      else await refreshChains(res, server.origin, users, [server.child.proc.pid, redis.proc.pid]);
      res.checks.push(`${await probe.dbsize()} Redis keys after the run (constant per session expected)`);
    } finally {
      await server.stop();
    }
  } finally {
    probe.disconnect();
    await redis.stop();
    dir.remove();
  }
  attachProfile(res);
}

async function oidc(res: ScenarioResult): Promise<void> {
  const port = await freePort();
  const child = startNodeTs('oidc-provider', 'bench/servers/oidc-provider.ts', { PORT: String(port), CHAINS: String(C + 1) }, nodeFlags(res.name));
  try {
    const ready = await waitForReadyLine<{ tokens: string[]; clientId: string }>(child);
    const origin = `http://127.0.0.1:${port}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = (t: string) => `grant_type=refresh_token&client_id=${ready.clientId}&refresh_token=${encodeURIComponent(t)}`;
    // The peer issues what we issue: an EdDSA at+jwt access token and a rotated refresh token.
    const first = await once(origin, { method: 'POST', path: '/token', headers: form, body: body(ready.tokens[0]!) });
    const firstBody = JSON.parse(first.body) as { access_token?: string; refresh_token?: string };
    if (first.status !== 200 || !firstBody.access_token || !firstBody.refresh_token) throw new Error(`oidc-provider refresh failed: ${first.status} ${first.body}`);
    const header = JSON.parse(Buffer.from(firstBody.access_token.split('.')[0]!, 'base64url').toString()) as { alg?: string; typ?: string };
    const spare = ready.tokens[C]!;
    await once(origin, { method: 'POST', path: '/token', headers: form, body: body(spare) });
    const reuse = await once(origin, { method: 'POST', path: '/token', headers: form, body: body(spare) });
    res.checks.push(`access token header ${JSON.stringify(header)}; a rotated token presented again -> ${reuse.status} (${JSON.parse(reuse.body).error})`);
    res.generator = 'closed loop (undici)';
    const meter = cpuMeter([child.proc.pid]);
    const r = await closedLoop({
      origin,
      onWindow: meter,
      // Chain 0 starts from its rotated token; the extra minted token (index C) was the reuse probe's.
      states: [firstBody.refresh_token, ...ready.tokens.slice(1, C)],
      warmupMs: timing.warmupSec * 1000,
      durationMs: timing.durationSec * 1000,
      maxRequestsPerWorker: MAX_PER_WORKER,
      uniqueKey: (t) => t,
      request: (t) => ({ method: 'POST', path: '/token', headers: form, body: body(t) }),
      onResponse: (t, status, text) => {
        if (status !== 200) return new Error(`token endpoint answered ${status}`);
        const next = (JSON.parse(text) as { refresh_token?: string }).refresh_token;
        if (!next || next === t) return new Error('no rotated refresh token');
        return next;
      },
    });
    Object.assign(res, fromLoop(r), cpuFields(meter, r.requests, r.durationSec));
    res.checks.push(...loopChecks(r, 200, true));
    let ok = 0;
    for (const t of r.liveStates) if ((await once(origin, { method: 'POST', path: '/token', headers: form, body: body(t) })).status === 200) ok++;
    res.checks.push(`after the run: ${ok}/${C} chains' last tokens still refresh`);
    if (ok !== C) res.errors = (res.errors ?? 0) + (C - ok);
  } finally {
    await child.stop();
  }
  attachProfile(res);
}

async function sign(res: ScenarioResult): Promise<void> {
  res.generator = 'in-process';
  const child = startNodeTs('sign', 'bench/sign.ts', { SIGN_JSON: '1' }, []);
  try {
    const out = await waitForReadyLine<{ results: SignResult[] }>(child, 60_000);
    res.sign = out.results;
    res.checks.push('own process; ops/s = wall clock, ops/CPU-s = per second of CPU time');
  } finally {
    await child.stop();
  }
}

async function verifyDpop(res: ScenarioResult): Promise<void> {
  res.generator = 'in-process';
  const child = startNodeTs('verify-dpop', 'bench/verify-dpop.ts', { VERIFY_DPOP_JSON: '1' }, []);
  try {
    const out = await waitForReadyLine<{ results: SignResult[] }>(child, 180_000);
    res.verifyDpop = out.results;
    res.checks.push('own process; every DPoP call uses a new pre-made proof and must succeed');
  } finally {
    await child.stop();
  }
}

/** A storm against the --compare-root checkout first (when given), then against this one. */
function storm(kind: StormKind) {
  return async (res: ScenarioResult): Promise<void> => {
    res.generator = 'closed loop (undici)';
    const run = (root: string | null) => runStorm(kind, { serverRoot: root, attackers: opts.attackers, durationMs: timing.durationSec * 1000 });
    const compared = opts.compareRoot ? await run(opts.compareRoot) : null;
    const current = await run(opts.serverRoot);
    res.storm = { current, compared };
    res.p50 = current.legit.p50;
    res.p99 = current.legit.p99;
    res.max = current.legit.max;
    for (const [label, f] of [['this checkout', current], [`compared (${opts.compareRoot})`, compared]] as const) {
      if (!f) continue;
      res.checks.push(
        `${label}: storm ${f.storm.waves} waves, ${f.storm.requests} requests in ${f.storm.seconds.toFixed(1)} s ${JSON.stringify(f.storm.statuses)}; legitimate logins ${f.legit.ok}/${f.legit.logins} ok ${JSON.stringify(f.legit.statuses)}`,
      );
    }
  };
}

const RUNNERS: Record<Scenario, (r: ScenarioResult) => Promise<void>> = {
  baseline,
  'baseline-loop': baselineLoop,
  refresh: (r) => refreshEmbedded(r),
  // The cost of metrics (issue 13: ≥ 0.95×): the same scenario without the management listener.
  'refresh-nometrics': (r) => refreshEmbedded(r, { LATCHKEY_ADMIN_PORT: 'off' }),
  login,
  forged,
  me,
  redis: (r) => redisRefresh(r, false),
  'redis-dpop': (r) => redisRefresh(r, true),
  oidc,
  sign,
  'verify-dpop': verifyDpop,
  'storm-signup': storm('signup-spread'),
  'storm-signup-1src': storm('signup-one-source'),
  'storm-login': storm('login-spread'),
  'storm-login-1': storm('login-one-account'),
  'baseline-end': baseline,
};

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

interface Target {
  target: string;
  value: string;
  met: boolean | null;
}

function evaluateTargets(): Target[] {
  const get = (n: Scenario) => results.find((r) => r.name === n && r.status === 'ok' && r.rps !== undefined);
  const base = baselineOf('rps');
  const out: Target[] = [];
  const ratio = (n: Scenario, min: number, label: string) => {
    const s = get(n);
    if (!s || !base) return out.push({ target: label, value: 'not measured', met: null });
    const x = s.rps! / base;
    out.push({ target: label, value: `${x.toFixed(3)}×`, met: x >= min && (s.errors ?? 0) === 0 });
  };
  ratio('refresh', 0.15, 'embedded refresh ≥ 0.15× bare Fastify');
  ratio('redis', 0.2, 'Redis refresh ≥ 0.2× bare Fastify');
  const bearer = get('redis');
  const bound = get('redis-dpop');
  out.push(
    bearer && bound
      ? { target: 'DPoP-bound refresh ≥ 0.7× Bearer refresh on Redis', value: `${(bound.rps! / bearer.rps!).toFixed(2)}×`, met: bound.rps! / bearer.rps! >= 0.7 && (bound.errors ?? 0) === 0 }
      : { target: 'DPoP-bound refresh ≥ 0.7× Bearer refresh on Redis', value: 'not measured', met: null },
  );
  const redis = get('redis');
  const peer = get('oidc');
  out.push(
    redis && peer
      ? { target: 'Redis refresh ≥ 4× oidc-provider', value: `${(redis.rps! / peer.rps!).toFixed(2)}×`, met: redis.rps! / peer.rps! >= 4 }
      : { target: 'Redis refresh ≥ 4× oidc-provider', value: 'not measured', met: null },
  );
  out.push(
    redis
      ? { target: 'Redis refresh p99 ≤ 10 ms', value: `${redis.p99!.toFixed(2)} ms`, met: redis.p99! <= 10 }
      : { target: 'Redis refresh p99 ≤ 10 ms', value: 'not measured', met: null },
  );
  ratio('forged', 0.5, 'forged-token rejection ≥ 0.5× bare Fastify');
  const on = get('refresh');
  const off = get('refresh-nometrics');
  out.push(
    on && off
      ? { target: 'refresh with metrics ≥ 0.95× without', value: `${(on.rps! / off.rps!).toFixed(3)}× (CPU/req ${fmt(on.serverCpuUsPerReq ?? undefined, 1)} vs ${fmt(off.serverCpuUsPerReq ?? undefined, 1)} µs)`, met: on.rps! / off.rps! >= 0.95 }
      : { target: 'refresh with metrics ≥ 0.95× without', value: 'not measured', met: null },
  );
  // Issue 12 item 3: a legitimate login stays fast and the event loop free during each storm.
  for (const r of results.filter((x) => x.storm && x.status === 'ok')) {
    const f = r.storm!.current;
    const was = r.storm!.compared;
    const before = was ? ` (compared checkout: ${fmt(was.legit.p99)} ms, ${was.legit.ok}/${was.legit.logins} ok)` : '';
    out.push({ target: `${r.name}: legitimate login p99 ≤ 1 s, all ok`, value: `${fmt(f.legit.p99)} ms, ${f.legit.ok}/${f.legit.logins} ok${before}`, met: f.legit.p99 <= 1000 && f.legit.ok === f.legit.logins });
    const eldBefore = was ? ` (compared checkout: ${fmt(was.eventLoopDelayMs.p99, 1)} ms)` : '';
    out.push({ target: `${r.name}: server event-loop delay p99 ≤ 20 ms`, value: `${fmt(f.eventLoopDelayMs.p99, 1)} ms, max ${fmt(f.eventLoopDelayMs.max, 1)}${eldBefore}`, met: f.eventLoopDelayMs.p99 <= 20 });
  }
  // For reference, not a target of the issues: embedded refresh against the peer.
  const emb = get('refresh');
  if (emb && peer) out.push({ target: '(info) embedded refresh vs oidc-provider', value: `${(emb.rps! / peer.rps!).toFixed(2)}×`, met: null });
  return out;
}

function printTable(targets: Target[]): void {
  const ok = (n: Scenario) => results.find((r) => r.name === n && r.status === 'ok');
  const base = baselineOf('rps');
  const baseCpu = baselineOf('serverCpuUsPerReq');
  const loopBase = ok('baseline-loop')?.rps;
  const rows = [['scenario', 'generator', 'req/s', 'p50 ms', 'p99 ms', '× baseline', '× loop base', 'srv CPU µs/req', 'CPU-cost ×', 'srv cores', 'errors']];
  for (const r of results) {
    if (r.name === 'sign' || r.name === 'verify-dpop' || r.storm) continue;
    if (r.status !== 'ok') {
      rows.push([r.title, r.status, '-', '-', '-', '-', '-', '-', '-', '-', r.message ?? '']);
      continue;
    }
    const isLoop = r.generator.startsWith('closed');
    const cpu = r.serverCpuUsPerReq ?? null;
    rows.push([
      r.title,
      r.generator.replace(' (undici)', ''),
      fmt(r.rps),
      fmt(r.p50, 2),
      fmt(r.p99, 2),
      base ? `${(r.rps! / base).toFixed(3)}×` : '-',
      isLoop && loopBase ? `${(r.rps! / loopBase).toFixed(3)}×` : '-',
      cpu === null ? '-' : fmt(cpu, 1),
      cpu !== null && baseCpu ? `${(baseCpu / cpu).toFixed(3)}×` : '-',
      r.serverCores == null ? '-' : r.serverCores.toFixed(2),
      String(r.errors ?? 0),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  console.log('');
  for (const [i, row] of rows.entries()) {
    console.log(row.map((c, j) => (j >= 2 && i > 0 ? c.padStart(widths[j]!) : c.padEnd(widths[j]!))).join('  ').trimEnd());
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log('(× baseline: against the mean of the bare-Fastify runs at the start and the end of this run.');
  console.log(' CPU-cost ×: baseline server CPU per request / this scenario\'s, the ratio a server-bound box would see.)');
  const signRes = results.find((r) => r.name === 'sign' && r.status === 'ok')?.sign;
  if (signRes) {
    console.log('\nEdDSA access-token signing / verification (one process, ~1 s each):');
    for (const s of signRes) console.log(`  ${s.name.padEnd(40)} ${fmt(s.opsPerSec).padStart(8)} ops/s  ${fmt(s.opsPerCpuSec).padStart(8)} ops/CPU-s  ${s.note}`);
  }
  const dpopRes = results.find((r) => r.name === 'verify-dpop' && r.status === 'ok')?.verifyDpop;
  if (dpopRes && dpopRes[0]) {
    const raw = dpopRes[0].opsPerSec;
    const rawCpu = dpopRes[0].opsPerCpuSec;
    console.log('\n@latchkey/verify, DPoP-bound access tokens (one process):');
    for (const s of dpopRes) console.log(`  ${s.name.padEnd(48)} ${fmt(s.opsPerSec).padStart(9)} ops/s  ${(s.opsPerSec / raw).toFixed(2).padStart(7)}× raw  ${fmt(s.opsPerCpuSec).padStart(9)} ops/CPU-s  ${(s.opsPerCpuSec / rawCpu).toFixed(2).padStart(7)}× raw per CPU-s`);
  }
  const storms = results.filter((r) => r.storm && r.status === 'ok');
  if (storms.length) {
    console.log(`\nStorms (waves of ${opts.attackers} requests at once for ${timing.durationSec} s; one legitimate user logging in back to back meanwhile):`);
    const srows = [['scenario', 'checkout', 'waves', 'storm req', 'storm s', 'storm statuses', 'legit ok', 'legit p50 ms', 'legit p99 ms', 'legit max ms', 'ELD p99 ms', 'ELD max ms', 'srv cores']];
    for (const r of storms) {
      for (const f of [r.storm!.compared, r.storm!.current]) {
        if (!f) continue;
        srows.push([
          r.name,
          f === r.storm!.current ? 'this' : 'compared',
          String(f.storm.waves),
          String(f.storm.requests),
          f.storm.seconds.toFixed(1),
          JSON.stringify(f.storm.statuses),
          `${f.legit.ok}/${f.legit.logins}`,
          fmt(f.legit.p50),
          fmt(f.legit.p99),
          fmt(f.legit.max),
          fmt(f.eventLoopDelayMs.p99, 1),
          fmt(f.eventLoopDelayMs.max, 1),
          f.serverCpuCores == null ? '-' : f.serverCpuCores.toFixed(2),
        ]);
      }
    }
    const sw = srows[0]!.map((_, i) => Math.max(...srows.map((row) => (row[i] ?? '').length)));
    for (const [i, row] of srows.entries()) {
      console.log(row.map((c, j) => c.padEnd(sw[j]!)).join('  ').trimEnd());
      if (i === 0) console.log(sw.map((w) => '-'.repeat(w)).join('  '));
    }
  }
  console.log('\ntargets:');
  for (const t of targets) console.log(`  ${t.met === null ? '  - ' : t.met ? ' MET' : ' NOT'}  ${t.target}: ${t.value}`);
  for (const r of results) {
    if (r.profile) console.log(`\n[${r.name}] ${formatProfile(r.profile)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const started = Date.now();
const loadStart = loadavg();
console.log(
  `latchkey bench: ${opts.scenarios.join(', ')} | ${C} connections, ${timing.warmupSec} s warm-up + ${timing.durationSec} s measured each | ` +
    `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}${opts.profile ? ' | CPU profiling ON (numbers are slower)' : ''}` +
    `${opts.serverRoot ? ` | Latchkey from ${opts.serverRoot}` : ''}`,
);

for (const name of opts.scenarios) {
  const res: ScenarioResult = { name, title: TITLES[name], generator: '-', status: 'ok', checks: [] };
  results.push(res);
  const t = Date.now();
  process.stdout.write(`- ${name} ... `);
  try {
    await RUNNERS[name](res);
  } catch (e) {
    res.status = 'failed';
    res.message = e instanceof Error ? e.message.split('\n').slice(0, 6).join(' | ') : String(e);
  }
  const secs = ((Date.now() - t) / 1000).toFixed(1);
  if (res.status === 'ok' && res.rps !== undefined) {
    const cpu = res.serverCpuUsPerReq == null ? '' : `, server ${fmt(res.serverCpuUsPerReq, 1)} µs CPU/req (${res.serverCores!.toFixed(2)} cores)`;
    console.log(`${fmt(res.rps)} req/s, p50 ${fmt(res.p50, 2)} ms, p99 ${fmt(res.p99, 2)} ms${cpu}, errors ${res.errors ?? 0} (${secs} s)`);
  }
  else if (res.status === 'ok') console.log(`done (${secs} s)`);
  else console.log(`${res.status.toUpperCase()}: ${res.message} (${secs} s)`);
}

const targets = evaluateTargets();
printTable(targets);

const report = {
  generatedAt: new Date(started).toISOString(),
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  runtimeSec: Math.round((Date.now() - started) / 100) / 10,
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavgAtStart: loadStart.map((x) => Math.round(x * 100) / 100),
    loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
  },
  settings: {
    connections: C,
    warmupSec: timing.warmupSec,
    durationSec: timing.durationSec,
    profile: opts.profile,
    serverRoot: opts.serverRoot,
    compareRoot: opts.compareRoot,
    attackers: opts.attackers,
  },
  baselineRps: baselineOf('rps'),
  baselineServerCpuUsPerReq: baselineOf('serverCpuUsPerReq'),
  scenarios: results.map((r) => {
    const base = baselineOf('rps');
    const baseCpu = baselineOf('serverCpuUsPerReq');
    return {
      ...r,
      ratioToBaseline: base && r.rps !== undefined ? r.rps / base : null,
      cpuCostRatio: baseCpu && r.serverCpuUsPerReq ? baseCpu / r.serverCpuUsPerReq : null,
    };
  }),
  targets,
};
mkdirSync(RESULTS_DIR, { recursive: true });
const json = `${JSON.stringify(report, null, 2)}\n`;
writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
if (opts.out) writeFileSync(opts.out, json);
console.log(`\nwrote bench/results/latest.json${opts.out ? ` and ${opts.out}` : ''} (${report.runtimeSec} s total)`);
process.exit(results.some((r) => r.status === 'failed') ? 1 : 0);
