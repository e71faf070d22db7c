// A third-party DPoP client against the real server (issue 11, Tests): oauth4webapi discovers the
// authorization server, holds a WebCrypto key pair, signs every proof itself, follows the server's
// `use_dpop_nonce` challenges with its own nonce cache (RFC 9449 §8), refreshes at the metadata's
// token_endpoint and calls the server's own /auth/me with `protectedResourceRequest` (§7).
// Nothing of Latchkey's client or test proof helpers signs a proof here.
import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import { signup } from '../helpers/http.js';
import { freePort } from '../harness/free-port.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** RFC 7638 thumbprint of a WebCrypto public key, by hand on node:crypto (not oauth4webapi's, not core's). */
async function thumbprintOf(publicKey: webcrypto.CryptoKey): Promise<string> {
  const jwk = await webcrypto.subtle.exportKey('jwk', publicKey);
  const members = jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x'];
  const json = `{${members.map((m) => `"${m}":"${String((jwk as Record<string, unknown>)[m])}"`).join(',')}}`;
  return createHash('sha256').update(json).digest('base64url');
}

function claimsOf(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, any>;
}

interface Flow {
  srv: TestServer;
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  keyPair: CryptoKeyPair;
  /** Moves both clocks: the server's, and the `iat` oauth4webapi puts in its proofs. */
  advance(ms: number): void;
  handle(): oauth.DPoPHandle;
}

const insecure = { [oauth.allowInsecureRequests]: true } as const;

async function flow(alg: 'ES256' | 'Ed25519', env: (port: number) => Record<string, string>): Promise<Flow> {
  let offsetMs = 0;
  const port = await freePort();
  const srv = await startServer({ PORT: String(port), ...env(port) }, { now: () => Date.now() + offsetMs });
  const issuer = new URL(env(port).LATCHKEY_ISSUER ?? `http://localhost:${port}`);
  // RFC 8414 §3: oauth4webapi checks that the document's issuer is the one it asked.
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  assert.ok(as.dpop_signing_alg_values_supported?.includes(alg), `metadata lists ${alg}`);
  const client: oauth.Client = { client_id: 'app' };
  const keyPair = await oauth.generateKeyPair(alg);
  assert.equal(keyPair.privateKey.extractable, false, 'the private key never leaves WebCrypto');
  return {
    srv,
    as,
    client,
    keyPair,
    advance: (ms) => (offsetMs += ms),
    // oauth4webapi's own hook on every proof it signs: the iat follows the moved clock.
    handle: () => oauth.DPoP(client, keyPair, { [oauth.modifyAssertion]: (_h, p) => void (p.iat = (p.iat as number) + Math.round(offsetMs / 1000)) }),
  };
}

/**
 * A first-party login with a proof made by oauth4webapi. Its one request builder that sends a JSON
 * body with a proof and no access token (so no `ath`) is dynamic client registration (RFC 7591):
 * pointed at the metadata's `login_endpoint`, the "client metadata" it POSTs is the credentials.
 */
async function loginWithOauth4webapi(f: Flow, dpop: oauth.DPoPHandle, email: string, password: string): Promise<{ body: any; challenged: boolean }> {
  const at = { ...f.as, registration_endpoint: f.as.login_endpoint as string };
  const send = () => oauth.dynamicClientRegistrationRequest(at, { email, password }, { DPoP: dpop, ...insecure });
  let r = await send();
  let challenged = false;
  if (r.status === 400) {
    const body = (await r.json()) as { error?: string };
    assert.equal(body.error, 'use_dpop_nonce');
    assert.ok(r.headers.get('dpop-nonce'), 'the challenge carries the nonce');
    challenged = true;
    r = await send(); // the handle cached the nonce from the answer
  }
  assert.equal(r.status, 200, await r.clone().text());
  return { body: await r.json(), challenged };
}

/**
 * oauth4webapi's documented retry pattern for the token endpoint: on `isDPoPNonceError` the same
 * request once more, the handle having cached the nonce from the refusal.
 */
async function refreshWithRetry(f: Flow, dpop: oauth.DPoPHandle, refreshToken: string) {
  let challenges = 0;
  for (;;) {
    const response = await oauth.refreshTokenGrantRequest(f.as, f.client, oauth.None(), refreshToken, { DPoP: dpop, ...insecure });
    const raw = (await response.clone().json()) as { token_type?: string };
    try {
      const result = await oauth.processRefreshTokenResponse(f.as, f.client, response);
      return { result, raw, challenges };
    } catch (e) {
      if (oauth.isDPoPNonceError(e) && challenges === 0) {
        challenges++;
        continue;
      }
      throw e;
    }
  }
}

async function me(f: Flow, dpop: oauth.DPoPHandle | undefined, accessToken: string) {
  const url = new URL('/auth/me', f.as.issuer);
  return oauth.protectedResourceRequest(accessToken, 'GET', url, undefined, undefined, { ...(dpop ? { DPoP: dpop } : {}), ...insecure });
}

const variants: Array<{ alg: 'ES256' | 'Ed25519'; issuer: string; env: (port: number) => Record<string, string> }> = [
  // The default issuer, http://localhost:PORT: the proofs' htu names localhost.
  { alg: 'ES256', issuer: 'default (localhost)', env: () => ({}) },
  { alg: 'Ed25519', issuer: 'LATCHKEY_ISSUER=http://127.0.0.1:PORT', env: (port) => ({ LATCHKEY_ISSUER: `http://127.0.0.1:${port}` }) },
];

describe('oauth4webapi as a third-party DPoP client', () => {
  for (const v of variants) {
    it(`${v.alg}, issuer ${v.issuer}: login and repeated refreshes bound to oauth4webapi's key, nonce challenges followed by its retry, /auth/me with protectedResourceRequest`, async () => {
      const f = await flow(v.alg, v.env);
      try {
        assert.equal(f.as.token_endpoint, new URL('/auth/token', f.as.issuer).href);
        const account = await signup(f.srv.url); // a Bearer session, only to have an account
        let dpop = f.handle();
        const jkt = await thumbprintOf(f.keyPair.publicKey as webcrypto.CryptoKey);
        assert.equal(await dpop.calculateThumbprint(), jkt);

        const login = await loginWithOauth4webapi(f, dpop, account.email, account.password);
        assert.equal(login.challenged, true, 'a fresh handle has no nonce: the first proof is challenged');
        assert.equal(login.body.token_type, 'DPoP');
        assert.equal(claimsOf(login.body.access_token).cnf?.jkt, jkt, 'the session is bound to the key oauth4webapi holds');
        assert.equal((await me(f, dpop, login.body.access_token)).status, 200);

        let rt = login.body.refresh_token as string;
        const seen = new Set([rt]);
        // Step by step: nonce known; known again; the nonce expired (clock moved past two 5-minute
        // steps, §8); a restarted client (a new handle, no nonce) with the same key pair; known again.
        const steps: Array<{ before?: () => void; challenges: number }> = [
          { challenges: 0 },
          { challenges: 0 },
          { before: () => f.advance(11 * 60_000), challenges: 1 },
          { before: () => (dpop = f.handle()), challenges: 1 },
          { challenges: 0 },
        ];
        for (const [i, step] of steps.entries()) {
          step.before?.();
          const { result, raw, challenges } = await refreshWithRetry(f, dpop, rt);
          assert.equal(challenges, step.challenges, `step ${i}: nonce challenges`);
          assert.equal(raw.token_type, 'DPoP', `step ${i}: token_type as sent`);
          assert.equal(result.token_type, 'dpop', `step ${i}: oauth4webapi recognised the DPoP token type`);
          assert.equal(claimsOf(result.access_token).cnf?.jkt, jkt, `step ${i}: cnf.jkt is the key's thumbprint`);
          assert.ok(result.refresh_token && !seen.has(result.refresh_token), `step ${i}: a rotated refresh token`);
          rt = result.refresh_token;
          seen.add(rt);
          const r = await me(f, dpop, result.access_token);
          assert.equal(r.status, 200, `step ${i}: /auth/me`);
          assert.equal(((await r.json()) as { user: { id: string } }).user.id, account.user.id);
        }
        assert.equal(f.srv.events('session.rotated').length, steps.length);
        assert.equal(f.srv.events('session.key_mismatch').length, 0);

        // The bound token without its proof (oauth4webapi then sends it as Bearer): refused with
        // the §7.1 challenge, which oauth4webapi parses into a WWW-Authenticate error.
        const { result } = await refreshWithRetry(f, dpop, rt);
        await assert.rejects(me(f, undefined, result.access_token), (e: unknown) => {
          assert.ok(e instanceof oauth.WWWAuthenticateChallengeError);
          const challenge = e.cause.find((c) => c.scheme === 'dpop');
          assert.equal(challenge?.parameters.error, 'invalid_token');
          assert.match(challenge?.parameters.algs ?? '', new RegExp(`\\b${v.alg}\\b`));
          return true;
        });
      } finally {
        await f.srv.close();
      }
    });
  }
});
