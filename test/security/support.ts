// Shared tools of the security battery: a controllable clock, hand-made JWS tokens, and the
// assertions every refusal has to meet. Not a test file itself (no `.test.ts`).
import { isReason } from '../../packages/core/src/reasons.js';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signJws } from '../../packages/server/src/jwt/signing.js';
import { verifyAccessToken, TokenError, type TokenFailure } from '../../packages/core/src/jwt/access-token.js';
import { call, type Res } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Extra environment for every server the battery starts, so the same battery runs on another
 * store shape: LATCHKEY_SECURITY_ENV='{"LATCHKEY_REDIS_URL":"redis://127.0.0.1:6379"}'.
 */
const EXTRA_ENV = JSON.parse(process.env.LATCHKEY_SECURITY_ENV ?? '{}') as Record<string, string>;

let live = 0;

export async function start(env: Record<string, string> = {}, opts: { now?: () => number } = {}): Promise<TestServer> {
  const merged = { ...EXTRA_ENV, ...env };
  if (merged.LATCHKEY_REDIS_URL && live === 0) {
    // Start from empty counters and sessions, as the embedded shape does; never under a live server.
    const { Redis } = await import('ioredis');
    const r = new Redis(merged.LATCHKEY_REDIS_URL);
    await r.flushdb();
    r.disconnect();
  }
  const srv = await startServer(merged, opts);
  live++;
  const close = srv.close.bind(srv);
  srv.close = async () => {
    live--;
    await close();
  };
  return srv;
}

/** A server with stores of its own (its own secrets), whatever shape the battery runs on. */
export function startIsolated(env: Record<string, string> = {}): Promise<TestServer> {
  return startServer({ ...EXTRA_ENV, LATCHKEY_REDIS_URL: '', LATCHKEY_REDIS_CLUSTER: '', LATCHKEY_DATABASE_URL: '', ...env });
}

/** A clock frozen on a whole second, so "exp equal to now" means exactly that. */
export function clock(start = Math.floor(Date.now() / 1000) * 1000) {
  let t = start;
  return { now: () => t, sec: () => Math.floor(t / 1000), advance: (ms: number) => (t += ms), set: (ms: number) => (t = ms) };
}

export const b64u = (s: string | Buffer) => Buffer.from(s).toString('base64url');
export const part = (v: unknown) => b64u(JSON.stringify(v));

/** The server's own signing key, used to get a crafted token past the signature check. */
export function serverKey(srv: TestServer) {
  return srv.latchkey.ctx.keys.signingKey();
}

/** Signs `headerText.payloadText` (raw JSON text, so duplicates and 1e309 survive) with the server's key. */
export function signRaw(srv: TestServer, headerText: string, payloadText: string): string {
  const k = serverKey(srv);
  const input = `${b64u(headerText)}.${b64u(payloadText)}`;
  return `${input}.${signJws(k.alg, k.privateKey, Buffer.from(input)).toString('base64url')}`;
}

export function sign(srv: TestServer, header: Record<string, unknown>, payload: unknown): string {
  return signRaw(srv, JSON.stringify(header), JSON.stringify(payload));
}

export function goodHeader(srv: TestServer): Record<string, unknown> {
  const k = serverKey(srv);
  return { alg: k.alg, typ: 'at+jwt', kid: k.kid };
}

export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
}

/** Claims exactly as the server issues them, for the session behind `accessToken`, at the server's now. */
export function goodClaims(srv: TestServer, accessToken: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const c = claimsOf(accessToken);
  const iat = Math.floor(srv.latchkey.ctx.now() / 1000);
  const claims: Record<string, unknown> = { ...c, iat, exp: iat + srv.latchkey.ctx.config.accessTtlSec, jti: `t${Math.random().toString(36).slice(2)}` };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete claims[k];
    else claims[k] = v;
  }
  return claims;
}

/**
 * Why the server refuses a token, found with exactly the options its Bearer guard uses; lets a
 * test show the refusal is for the stated reason and not some earlier accident.
 */
export function refusalReason(srv: TestServer, token: string): TokenFailure | 'accepted' {
  const ctx = srv.latchkey.ctx;
  try {
    verifyAccessToken(token, (kid) => ctx.keys.verificationKey(kid), {
      issuer: ctx.config.issuer,
      audience: ctx.config.audience,
      leewaySec: ctx.config.clockLeewaySec,
      maxLifetimeSec: ctx.config.accessTtlSec,
      now: ctx.now,
    });
    return 'accepted';
  } catch (e) {
    if (e instanceof TokenError) return e.reason;
    throw e;
  }
}

export function me(srv: TestServer, token: string): Promise<Res> {
  return call(srv.url, 'GET', '/auth/me', { headers: { authorization: `Bearer ${token}` } });
}

const REFUSED_BODIES = [
  { error: 'invalid_token', error_description: 'access token is invalid', reason: 'access_token_invalid' },
  // Only a genuine token of a revoked session gets this one: it tells its holder nothing new.
  { error: 'invalid_token', error_description: 'session has been revoked', reason: 'session_revoked' },
];

/** RFC 6750 §3.1: 401, the invalid_token challenge, and one of the fixed public bodies. */
export function assertInvalidToken(r: Res, label = ''): void {
  assert.equal(r.status, 401, `${label}: status ${r.status} ${r.text}`);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="latchkey", error="invalid_token"/, label);
  assert.ok(
    REFUSED_BODIES.some((b) => JSON.stringify(b) === JSON.stringify(r.body)),
    `${label}: unexpected body ${r.text}`,
  );
}

/** A refused token: 401 via /auth/me and, where given, refused by verification for `reason`. */
export async function assertRefused(srv: TestServer, token: string, reason: TokenFailure | null, label: string): Promise<void> {
  assertInvalidToken(await me(srv, token), label);
  if (reason) assert.equal(refusalReason(srv, token), reason, label);
}

export async function assertAccepted(srv: TestServer, token: string, label = 'control'): Promise<void> {
  const r = await me(srv, token);
  assert.equal(r.status, 200, `${label}: ${r.status} ${r.text}`);
  assert.equal(refusalReason(srv, token), 'accepted', label);
}

/** A local HTTP server that counts every request: proof that no token made the server fetch a URL. */
export async function hitCounter(): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const s = http.createServer((_req, res) => {
    hits++;
    res.setHeader('content-type', 'application/json');
    res.end('{"keys":[]}');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

/** The fixed public texts of every error the API can answer; anything else would be a leak. */
export const PUBLIC_DESCRIPTIONS = new Set([
  'refresh token is invalid',
  'refresh token reuse detected; session revoked',
  'session has ended',
  'session has been revoked',
  'requests from this origin are not allowed',
  'this account is disabled',
  'session expired',
  'refresh token was issued to another client',
  'only grant_type=refresh_token is supported',
  'unknown client_id',
  'email or password is incorrect',
  'an account with this email already exists',
  'access token is invalid',
  'access token required',
  'not found',
  'too many failed attempts; retry later',
  'a backing store is unavailable; retry shortly',
  'refresh_token is required',
  'email is not a valid address',
  'request parameters are missing or invalid',
  'malformed request',
  'method not allowed',
  'request body too large',
  'unsupported content type',
  'request headers too large',
  'request timed out',
  'internal error',
]);

/** The RFC 6749 §5.2 / 6750 §3 error body: exactly {error, error_description, reason}, fixed text, a known reason. */
export function assertErrorBody(r: Res, label = ''): void {
  assert.ok((r.headers.get('content-type') ?? '').startsWith('application/json'), `${label}: content-type ${r.headers.get('content-type')}`);
  assert.ok(r.body && typeof r.body === 'object', `${label}: body ${r.text}`);
  assert.deepEqual(Object.keys(r.body).sort(), ['error', 'error_description', 'reason'], `${label}: ${r.text}`);
  assert.equal(typeof r.body.error, 'string', label);
  assert.ok(isReason(r.body.reason), `${label}: unknown reason ${JSON.stringify(r.body.reason)}`);
  assert.ok(PUBLIC_DESCRIPTIONS.has(r.body.error_description), `${label}: unexpected description ${JSON.stringify(r.body.error_description)}`);
  assertNoInternals(r.text, label);
}

export function assertNoInternals(text: string, label = ''): void {
  for (const leak of [/\bat .+:\d+:\d+/, /\.ts\b/, /node_modules/, /FST_[A-Z_]+/, /Error:/, /SQLITE_[A-Z]/, /"stack"/, /"message"/, /"statusCode"/]) {
    assert.doesNotMatch(text, leak, `${label}: internal detail in ${text.slice(0, 300)}`);
  }
}

export function findEvents(srv: TestServer, name: string, pred: (l: Record<string, unknown>) => boolean = () => true) {
  return srv.events(name).filter(pred);
}
