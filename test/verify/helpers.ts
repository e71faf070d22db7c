// A real Latchkey server, started in-process on 127.0.0.1, and tools to forge tokens with its
// own private key (so each test isolates exactly one flaw in an otherwise perfect token).
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../packages/server/src/config.js';
import { createLatchkey, createLogger, type Latchkey } from '../../packages/server/src/server.js';
import { signJws } from '../../packages/server/src/jwt/signing.js';
import { type AccessTokenClaims } from '../../packages/core/src/jwt/access-token.js';
import { signAccessToken, type IssuingKey } from '../../packages/server/src/jwt/signing.js';

/**
 * The issuer is a name that does not resolve; `fetch` below maps it onto the listening port.
 * That lets the server listen on port 0 (no port races) while the verifier still checks the
 * metadata's issuer against its configuration exactly, and it keeps the https-only jwks_uri rule live.
 */
export const ISSUER = 'https://auth.latchkey.test';

export interface TestServer {
  latchkey: Latchkey;
  /** Where it really listens. */
  base: string;
  issuer: string;
  audience: string;
  /** A fetch for the verifier: rewrites the issuer's origin to `base` and records every request. */
  fetch: CountingFetch;
  close(): Promise<void>;
}

export interface CountingFetch {
  (input: string, init?: RequestInit): Promise<Response>;
  urls: string[];
  count(pathSuffix?: string): number;
  reset(): void;
}

export function countingFetch(issuer: string, base: string): CountingFetch {
  const urls: string[] = [];
  const f = (async (input: string, init?: RequestInit) => {
    urls.push(input);
    const target = input.startsWith(issuer) ? base + input.slice(issuer.length) : input;
    // Only the issuer may ever be contacted: anything else is a failure of the test subject.
    if (!target.startsWith(base)) throw new Error(`unexpected outbound request to ${input}`);
    return fetch(target, init);
  }) as CountingFetch;
  f.urls = urls;
  f.count = (suffix?: string) => (suffix ? urls.filter((u) => u.endsWith(suffix)).length : urls.length);
  f.reset = () => {
    urls.length = 0;
  };
  return f;
}

export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'latchkey-verify-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    LATCHKEY_ISSUER: ISSUER,
    LATCHKEY_AUDIENCE: 'https://api.latchkey.test',
    LATCHKEY_DATA_DIR: dir,
    LATCHKEY_LOG_LEVEL: 'silent',
    LATCHKEY_DEMO: 'false',
    ...env,
  });
  const latchkey = await createLatchkey(config, { logger: createLogger(config) });
  await latchkey.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = latchkey.app.server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    latchkey,
    base,
    issuer: config.issuer,
    audience: config.audience,
    fetch: countingFetch(config.issuer, base),
    async close() {
      await latchkey.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

let userSeq = 0;

export interface SignedUp {
  access_token: string;
  refresh_token: string;
  user: { id: string };
}

export async function signup(server: TestServer): Promise<SignedUp> {
  const email = `user${process.pid}-${++userSeq}-${Date.now()}@example.com`;
  const res = await fetch(`${server.base}/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery staple' }),
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as SignedUp;
}

export function decodePayload(token: string): AccessTokenClaims {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as AccessTokenClaims;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** Signs arbitrary header and payload JSON *text* with the server's active key (duplicate keys, 1e309, ... survive). */
export function signRaw(key: IssuingKey, headerJson: string, payloadJson: string, alg = key.alg): string {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  const sig = signJws(alg as IssuingKey['alg'], key.privateKey, Buffer.from(input));
  return `${input}.${sig.toString('base64url')}`;
}

/** A token exactly like the server's, with `header`/`claims` overrides (undefined deletes a member). */
export function forge(key: IssuingKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const h: Record<string, unknown> = { alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const c = { ...claims };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return signRaw(key, JSON.stringify(h), JSON.stringify(c));
}

/** Claims as the server would issue them now. */
export function goodClaims(server: TestServer, sid = 'sid-forged-for-test', nowSec = Math.floor(Date.now() / 1000)): AccessTokenClaims {
  return {
    iss: server.issuer,
    sub: 'user-1',
    aud: server.audience,
    exp: nowSec + 300,
    iat: nowSec,
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    client_id: 'app',
    sid,
  };
}

export function signGood(server: TestServer, claims: AccessTokenClaims = goodClaims(server)): string {
  return signAccessToken(server.latchkey.ctx.keys.signingKey(), claims);
}

/** An HTTP server that only counts hits: the target of jku/x5u URLs that must never be fetched. */
export async function startTrap(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const srv = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

/** A token as the server issues it for a DPoP-bound session (RFC 9449 §6.1): `cnf.jkt` names the client's key. */
export function signBound(server: TestServer, jkt: string, claims: AccessTokenClaims = goodClaims(server)): string {
  return signGood(server, { ...claims, cnf: { jkt } });
}
