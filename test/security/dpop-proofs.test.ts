// DPoP proof edge cases against the real server (RFC 9449 §4.3, §5, §7, §8; issue 11, Tests): at
// `/auth/token` with the genuine refresh token of a bound session, every bad proof is refused
// (400 invalid_dpop_proof) before the session is touched, so a correct proof still refreshes; a
// copy (another key's proof, or none) kills the session at once; and on the server's own /auth/me a
// bound token works only with its key's proof naming it and this request.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { claimsOf, DpopKey, type ProofOptions } from '../helpers/dpop.js';
import { call, signup, uniqueEmail, type Res } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PROOF_AGE = 30;
const LEEWAY = 5;

let srv: TestServer;
let B: string;
let offsetMs = 0;
const nowSec = () => Math.floor((Date.now() + offsetMs) / 1000);

before(async () => {
  srv = await startServer({ LATCHKEY_DPOP_PROOF_AGE: String(PROOF_AGE), LATCHKEY_CLOCK_LEEWAY: String(LEEWAY) }, { now: () => Date.now() + offsetMs });
  B = srv.url;
});
after(() => srv.close());

interface Bound {
  key: DpopKey;
  refreshToken: string;
  accessToken: string;
  sessionId: string;
}

async function boundSession(alg: 'ES256' | 'EdDSA' = 'ES256'): Promise<Bound> {
  const key = new DpopKey(alg);
  const r = await key.signup(B, uniqueEmail());
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.token_type, 'DPoP');
  assert.equal(claimsOf(r.body.access_token).cnf.jkt, key.jkt);
  return { key, refreshToken: r.body.refresh_token, accessToken: r.body.access_token, sessionId: claimsOf(r.body.access_token).sid };
}

const tokenBody = (rt: string) => ({ grant_type: 'refresh_token', refresh_token: rt });

/** One request to the token endpoint, no retry, with exactly the DPoP header given (or none). */
function tokenCall(rt: string, dpop?: string): Promise<Res> {
  return call(B, 'POST', '/auth/token', { json: tokenBody(rt), headers: dpop === undefined ? {} : { dpop } });
}

/** A proof for this token endpoint on the server's (possibly moved) clock, with the key's current nonce. */
function tokenProof(s: Bound, o: ProofOptions = {}): string {
  return s.key.proof(`${B}/auth/token`, 'POST', { iat: nowSec(), ...o });
}

const lastRefusal = () => srv.events('dpop.proof_refused').at(-1)?.reason;

function assertRefused(r: Res, what: string): void {
  assert.equal(r.status, 400, `${what}: ${r.text}`);
  assert.equal(r.body.error, 'invalid_dpop_proof', what);
  assert.equal(r.body.reason, 'dpop_proof_invalid', what);
}

/** The session lives on: a correct proof by its key still refreshes it. Returns the session rotated. */
async function assertAlive(s: Bound, what: string): Promise<Bound> {
  const r = await s.key.refresh(B, s.refreshToken, { iat: nowSec() });
  assert.equal(r.status, 200, `${what}: the session must survive a refused proof: ${r.text}`);
  assert.equal(r.body.token_type, 'DPoP');
  return { ...s, refreshToken: r.body.refresh_token, accessToken: r.body.access_token };
}

/** A JWS by hand with any header (alg none, HS256), the payload of a proof that is otherwise right. */
function handBuilt(s: Bound, header: Record<string, unknown>, sign: (input: string) => string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const payload = { jti: randomBytes(16).toString('base64url'), htm: 'POST', htu: `${B}/auth/token`, iat: nowSec(), nonce: s.key.nonces.get(new URL(B).origin) };
  const input = `${b64({ typ: 'dpop+jwt', jwk: s.key.jwk, ...header })}.${b64(payload)}`;
  return `${input}.${sign(input)}`;
}

/** Sends two `DPoP` header lines (fetch would join them into one). */
function twoDpopHeaders(rt: string, a: string, b: string): Promise<{ status: number; body: any }> {
  const body = JSON.stringify(tokenBody(rt));
  const u = new URL(`${B}/auth/token`);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), dpop: [a, b] } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('DPoP proofs at /auth/token, with the genuine refresh token of a bound session', () => {
  // With the reason the server logs (dpop.proof_refused), so each case is refused for what it tests.
  const refusals: Array<[string, string, (s: Bound) => string]> = [
    ['htu of another path', 'wrong_htu', (s) => tokenProof(s, { htu: `${B}/auth/login` })],
    ['htu of another host', 'wrong_htu', (s) => tokenProof(s, { htu: `http://evil.example:${new URL(B).port}/auth/token` })],
    ['htu of another scheme', 'wrong_htu', (s) => tokenProof(s, { htu: `https://${new URL(B).host}/auth/token` })],
    ['htu of another port', 'wrong_htu', (s) => tokenProof(s, { htu: `http://127.0.0.1:1/auth/token` })],
    ['htm GET', 'wrong_htm', (s) => tokenProof(s, { htm: 'GET' })],
    ['htm lower-case post', 'wrong_htm', (s) => tokenProof(s, { htm: 'post' })],
    [`iat older than LATCHKEY_DPOP_PROOF_AGE + leeway`, 'stale', (s) => tokenProof(s, { iat: nowSec() - PROOF_AGE - LEEWAY - 3 })],
    ['iat in the future beyond the leeway', 'future', (s) => tokenProof(s, { iat: nowSec() + LEEWAY + 3 })],
    ['a jwk with a private member (d)', 'bad_jwk', (s) => tokenProof(s, { jwkExtra: { d: randomBytes(32).toString('base64url') } })],
    ['typ jwt', 'bad_typ', (s) => tokenProof(s, { typ: 'jwt' })],
    ['typ at+jwt', 'bad_typ', (s) => tokenProof(s, { typ: 'at+jwt' })],
    ['no typ', 'bad_typ', (s) => tokenProof(s, { header: { typ: undefined } })],
    ['alg none, empty signature', 'malformed', (s) => handBuilt(s, { alg: 'none' }, () => '')],
    ['alg none, the ES256 signature of another proof', 'unsupported_alg', (s) => handBuilt(s, { alg: 'none' }, () => tokenProof(s).split('.')[2]!)],
    // The classic confusion: HMAC keyed with the public key's text, under the bound key's jwk.
    ['alg HS256 keyed with the public jwk', 'unsupported_alg', (s) => handBuilt(s, { alg: 'HS256' }, (input) => createHmac('sha256', JSON.stringify(s.key.jwk)).update(input).digest('base64url'))],
    ['alg HS256 with an oct jwk', 'unsupported_alg', (s) => handBuilt(s, { alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } }, (input) => createHmac('sha256', 'secret').update(input).digest('base64url'))],
    ['alg ES256 on an Ed25519-signed proof', 'bad_jwk', (s) => tokenProof(s, { alg: 'ES256' })],
    ['a signature by another key under the bound jwk', 'bad_signature', (s) =>
      new DpopKey(s.key.alg).proof(`${B}/auth/token`, 'POST', { iat: nowSec(), nonce: s.key.nonces.get(new URL(B).origin) ?? null, jwkExtra: s.key.jwk })],
  ];

  for (const [what, reason, make] of refusals) {
    it(`refuses ${what} (400 invalid_dpop_proof, ${reason}), and the session is not revoked`, async () => {
      const s = await boundSession(what.includes('Ed25519') ? 'EdDSA' : 'ES256');
      const logged = srv.events('dpop.proof_refused').length;
      assertRefused(await tokenCall(s.refreshToken, make(s)), what);
      assert.deepEqual(srv.events('dpop.proof_refused').slice(logged).map((e) => e.reason), [reason]);
      await assertAlive(s, what);
    });
  }

  it('accepts the edges of the iat window: as old as LATCHKEY_DPOP_PROOF_AGE, and within the leeway ahead', async () => {
    const s = await boundSession();
    const old = await tokenCall(s.refreshToken, tokenProof(s, { iat: nowSec() - PROOF_AGE + 2 }));
    assert.equal(old.status, 200, old.text);
    const ahead = await tokenCall(old.body.refresh_token, tokenProof(s, { iat: nowSec() + LEEWAY - 2 }));
    assert.equal(ahead.status, 200, ahead.text);
  });

  it('a replayed proof (same jti): the second send is refused even though the first succeeded, and gets no grace answer', async () => {
    const s = await boundSession();
    const proof = tokenProof(s);
    const first = await tokenCall(s.refreshToken, proof);
    assert.equal(first.status, 200, first.text);
    const graceBefore = srv.events('session.grace_replay').length;
    // Same refresh token, same proof: without the replay check this is the predecessor with the
    // bound key's proof, which gets the grace answer (the successor) at any time.
    assertRefused(await tokenCall(s.refreshToken, proof), 'the same proof again');
    assert.equal(lastRefusal(), 'replayed');
    assert.equal(srv.events('session.grace_replay').length, graceBefore, 'no grace answer for a replayed proof');
    // The same jti in a newly signed proof (another iat) is the same proof for the replay check.
    const jti = JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()).jti as string;
    assertRefused(await tokenCall(first.body.refresh_token, tokenProof(s, { jti, iat: nowSec() - 1 })), 'the same jti re-signed');
    assert.equal(lastRefusal(), 'replayed');
    // A fresh proof for the predecessor does get the grace answer: the refusal above was the replay.
    const grace = await tokenCall(s.refreshToken, tokenProof(s));
    assert.equal(grace.status, 200, grace.text);
    assert.equal(grace.body.refresh_token, first.body.refresh_token);
    await assertAlive({ ...s, refreshToken: first.body.refresh_token }, 'after the replays');
    assert.equal(srv.events('session.key_mismatch').filter((e) => e.sessionId === s.sessionId).length, 0);
  });

  it('one proof sent 10 times at once: exactly one is answered, the other 9 refused as replays', async () => {
    const s = await boundSession();
    const proof = tokenProof(s);
    const results = await Promise.all(Array.from({ length: 10 }, () => tokenCall(s.refreshToken, proof)));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(9).fill(400)], results.map((r) => r.text).join('\n'));
    for (const r of results.filter((x) => x.status === 400)) assert.equal(r.body.error, 'invalid_dpop_proof');
    await assertAlive({ ...s, refreshToken: results.find((r) => r.status === 200)!.body.refresh_token }, 'after the burst');
  });

  it('ath at the token endpoint is ignored: §4.2 defines it for resource access only (§7), and a proof with one refreshes', async () => {
    const s = await boundSession();
    const r = await tokenCall(s.refreshToken, tokenProof(s, { accessToken: s.accessToken }));
    assert.equal(r.status, 200, r.text);
    const other = await tokenCall(r.body.refresh_token, tokenProof(s, { ath: 'not-the-hash-of-anything' }));
    assert.equal(other.status, 200, other.text);
  });

  it('the request’s query is not part of htu (§4.3 check 9): a proof naming the bare path refreshes /auth/token?x=1', async () => {
    const s = await boundSession();
    const r = await call(B, 'POST', '/auth/token?x=1', { json: tokenBody(s.refreshToken), headers: { dpop: tokenProof(s) } });
    assert.equal(r.status, 200, r.text);
  });

  it('a Bearer session refreshed with a valid proof stays Bearer: no cnf, and it still refreshes without one', async () => {
    const u = await signup(B);
    const key = new DpopKey();
    const r = await key.refresh(B, u.refresh_token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(claimsOf(r.body.access_token).cnf, undefined);
    const plain = await tokenCall(r.body.refresh_token);
    assert.equal(plain.status, 200, plain.text);
  });

  it('a proof without the nonce, after a challenge: 400 use_dpop_nonce with a DPoP-Nonce header, again and again; with it: 200', async () => {
    const s = await boundSession();
    const first = await tokenCall(s.refreshToken, tokenProof(s, { nonce: null }));
    assert.equal(first.status, 400);
    assert.equal(first.body.error, 'use_dpop_nonce');
    assert.equal(first.body.reason, 'dpop_nonce_required');
    const nonce = first.headers.get('dpop-nonce');
    assert.ok(nonce, 'the challenge carries a nonce');
    // A client that ignores the challenge is challenged again, never let through.
    const again = await tokenCall(s.refreshToken, tokenProof(s, { nonce: null }));
    assert.equal(again.body.error, 'use_dpop_nonce');
    assert.ok(again.headers.get('dpop-nonce'));
    // A nonce the server never gave is no nonce.
    const forged = await tokenCall(s.refreshToken, tokenProof(s, { nonce: randomBytes(22).toString('base64url').slice(0, 30) }));
    assert.equal(forged.body.error, 'use_dpop_nonce');
    const ok = await tokenCall(s.refreshToken, tokenProof(s, { nonce }));
    assert.equal(ok.status, 200, ok.text);
  });

  it('a stale nonce: still good 4 minutes on, refused with a new nonce once the clock is 11 minutes on', async () => {
    const s = await boundSession();
    const old = s.key.nonces.get(new URL(B).origin)!;
    try {
      offsetMs += 4 * 60_000;
      const fresh = await tokenCall(s.refreshToken, tokenProof(s, { nonce: old }));
      assert.equal(fresh.status, 200, fresh.text);
      offsetMs += 7 * 60_000;
      const stale = await tokenCall(fresh.body.refresh_token, tokenProof(s, { nonce: old }));
      assert.equal(stale.status, 400);
      assert.equal(stale.body.error, 'use_dpop_nonce');
      const next = stale.headers.get('dpop-nonce');
      assert.ok(next && next !== old, 'a new nonce');
      const ok = await tokenCall(fresh.body.refresh_token, tokenProof(s, { nonce: next }));
      assert.equal(ok.status, 200, ok.text);
    } finally {
      offsetMs = 0;
    }
  });

  it('two DPoP headers, each valid on its own: refused (§4.3 check 1), and neither is spent', async () => {
    const s = await boundSession();
    const a = tokenProof(s);
    const b = tokenProof(s);
    const r = await twoDpopHeaders(s.refreshToken, a, b);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_dpop_proof');
    assert.equal(r.body.reason, 'dpop_proof_invalid');
    assert.equal(lastRefusal(), 'malformed', 'the joined header is no JWS');
    assert.equal((await tokenCall(s.refreshToken, a)).status, 200, 'the first proof alone still works');
  });
});

describe('copies of a bound session’s refresh token', () => {
  for (const [what, proofOf] of [
    ['another key’s valid proof', (s: Bound) => {
      const thief = new DpopKey();
      return thief.proof(`${B}/auth/token`, 'POST', { iat: nowSec(), nonce: s.key.nonces.get(new URL(B).origin)! });
    }],
    ['no proof at all', () => undefined],
  ] as const) {
    it(`the current token with ${what}: 400 dpop_key_mismatch, session.key_mismatch, the access token dead at once`, async () => {
      const s = await assertAlive(await boundSession(), 'setup');
      assert.equal((await s.key.resource(B, 'GET', '/auth/me', s.accessToken)).status, 200);
      const r = await tokenCall(s.refreshToken, proofOf(s));
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.error, 'invalid_grant');
      assert.equal(r.body.reason, 'dpop_key_mismatch');
      assert.equal(srv.events('session.key_mismatch').filter((e) => e.sessionId === s.sessionId).length, 1);
      // No wait: the revocation is in this instance's set in the same step as the refusal.
      const me = await s.key.resource(B, 'GET', '/auth/me', s.accessToken);
      assert.equal(me.status, 401);
      assert.equal(me.body.reason, 'session_revoked');
      // The owner's own key cannot bring it back.
      const owner = await s.key.refresh(B, s.refreshToken, { iat: nowSec() });
      assert.equal(owner.status, 400);
      assert.equal(owner.body.error, 'invalid_grant');
    });
  }

  it('the predecessor with another key’s proof: a copy too (dpop_key_mismatch), not a grace answer', async () => {
    const s = await boundSession();
    const next = await s.key.refresh(B, s.refreshToken, { iat: nowSec() });
    assert.equal(next.status, 200);
    const thief = new DpopKey('EdDSA');
    const r = await tokenCall(s.refreshToken, thief.proof(`${B}/auth/token`, 'POST', { iat: nowSec(), nonce: s.key.nonces.get(new URL(B).origin)! }));
    assert.equal(r.body.reason, 'dpop_key_mismatch');
    assert.equal((await s.key.refresh(B, next.body.refresh_token, { iat: nowSec() })).status, 400, 'the session is gone');
  });

  it('the predecessor with its own key an hour after LATCHKEY_REUSE_GRACE: 200 with the same successor as before', async () => {
    const s = await boundSession();
    const first = await s.key.refresh(B, s.refreshToken, { iat: nowSec() });
    assert.equal(first.status, 200);
    try {
      offsetMs += 3_600_000;
      // The nonce learned an hour ago is stale; DpopKey follows the challenge once, as a client does.
      const again = await s.key.refresh(B, s.refreshToken, { iat: nowSec() });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.refresh_token, first.body.refresh_token, 'the same successor');
      assert.notEqual(again.body.access_token, first.body.access_token);
      assert.equal(claimsOf(again.body.access_token).cnf.jkt, s.key.jkt);
      assert.ok(srv.events('session.grace_replay').some((e) => e.sessionId === s.sessionId));
      const on = await s.key.refresh(B, first.body.refresh_token, { iat: nowSec() });
      assert.equal(on.status, 200, 'the successor still rotates');
    } finally {
      offsetMs = 0;
    }
  });
});

describe('DPoP at the server’s own /auth/me', () => {
  const challenge = (r: Res) => r.headers.get('www-authenticate') ?? '';

  function assertResourceRefused(r: Res, what: string, reason = 'dpop_proof_invalid', error = 'invalid_dpop_proof'): void {
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.equal(r.body.reason, reason, what);
    assert.match(challenge(r), new RegExp(`^DPoP error="${error}"`), what);
    assert.match(challenge(r), /algs="[^"]*ES256[^"]*"/, what);
  }

  it('refuses a proof with the ath of another token, for another htu or htm, replayed, or by another key; the token keeps working', async () => {
    const s = await boundSession();
    const at = s.accessToken;
    const other = (await boundSession()).accessToken;
    const meUrl = `${B}/auth/me`;
    const send = (proof: string, token = at) => call(B, 'GET', '/auth/me', { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    const p = (o: ProofOptions = {}) => s.key.proof(meUrl, 'GET', { accessToken: at, nonce: null, ...o });
    assertResourceRefused(await send(p({ accessToken: other })), 'ath of another token');
    assertResourceRefused(await send(s.key.proof(meUrl, 'GET', { nonce: null })), 'no ath');
    assertResourceRefused(await send(p({ htu: `${B}/auth/sessions` })), 'htu of another path');
    assertResourceRefused(await send(p({ htu: `http://evil.example:${new URL(B).port}/auth/me` })), 'htu of another host');
    assertResourceRefused(await send(p({ htm: 'POST' })), 'htm POST');
    assertResourceRefused(await send(p({ iat: nowSec() - PROOF_AGE - LEEWAY - 3 })), 'iat too old');
    const thief = new DpopKey();
    assertResourceRefused(await send(thief.proof(meUrl, 'GET', { accessToken: at, nonce: null })), 'another key');
    assertResourceRefused(await call(B, 'GET', '/auth/me', { headers: { authorization: `DPoP ${at}` } }), 'DPoP scheme, no proof');
    const once = p();
    assert.equal((await send(once)).status, 200);
    assertResourceRefused(await send(once), 'the same proof again');
    assert.equal((await send(p())).status, 200, 'refusals at a resource never revoke');
  });

  it('a bound token as Bearer: 401 access_token_bound with WWW-Authenticate: DPoP error="invalid_token"', async () => {
    const s = await boundSession('EdDSA');
    const r = await call(B, 'GET', '/auth/me', { token: s.accessToken });
    assertResourceRefused(r, 'bound as Bearer', 'access_token_bound', 'invalid_token');
    // Even with a good proof next to it: the scheme is what says the token is used as bound (§7.1).
    const withProof = await call(B, 'GET', '/auth/me', { headers: { authorization: `Bearer ${s.accessToken}`, dpop: s.key.proof(`${B}/auth/me`, 'GET', { accessToken: s.accessToken, nonce: null }) } });
    assertResourceRefused(withProof, 'bound as Bearer with a proof', 'access_token_bound', 'invalid_token');
  });

  it('a revoked or invalid token sent with the DPoP scheme is challenged with DPoP (§7.1), as @latchkey/verify does', async () => {
    const s = await boundSession();
    const meUrl = `${B}/auth/me`;
    const garbage = await call(B, 'GET', '/auth/me', { headers: { authorization: 'DPoP garbage', dpop: s.key.proof(meUrl, 'GET', { accessToken: 'garbage', nonce: null }) } });
    assertResourceRefused(garbage, 'an invalid token', 'access_token_invalid', 'invalid_token');
    assert.equal((await tokenCall(s.refreshToken)).body.reason, 'dpop_key_mismatch');
    const revoked = await s.key.resource(B, 'GET', '/auth/me', s.accessToken);
    assertResourceRefused(revoked, 'a revoked session', 'session_revoked', 'invalid_token');
    // The Bearer scheme keeps Bearer's challenge.
    const bearer = await call(B, 'GET', '/auth/me', { token: 'garbage' });
    assert.equal(bearer.status, 401);
    assert.match(challenge(bearer), /^Bearer realm="latchkey", error="invalid_token"/);
  });

  it('an unbound (Bearer) token with the DPoP scheme and a valid proof: 401 access_token_bound', async () => {
    const u = await signup(B);
    assert.equal(u.token_type, 'Bearer');
    const key = new DpopKey();
    const r = await call(B, 'GET', '/auth/me', { headers: { authorization: `DPoP ${u.access_token}`, dpop: key.proof(`${B}/auth/me`, 'GET', { accessToken: u.access_token, nonce: null }) } });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.body.reason, 'access_token_bound');
    assert.match(challenge(r), /^DPoP error="invalid_token"/);
    assert.equal((await call(B, 'GET', '/auth/me', { token: u.access_token })).status, 200, 'as Bearer it works');
  });
});
