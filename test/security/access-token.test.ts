// Access-token attacks on the server side: every one goes through GET /auth/me on a real server
// and must end in 401 invalid_token (RFC 6750 §3.1). Each attack starts from a token the server
// accepts (the control) and changes one thing, so each refusal is for the stated reason; where
// the reason is observable, `assertRefused` also names it. RFC 8725, RFC 9068 §4.
import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { signJws } from '../../packages/server/src/jwt/signing.js';
import { jwkThumbprint } from '../../packages/core/src/jwt/thumbprint.js';
import { call, signup } from '../helpers/http.js';
import type { TestServer } from '../helpers/server.js';
import {
  assertAccepted,
  assertInvalidToken,
  assertRefused,
  b64u,
  clock,
  goodClaims,
  goodHeader,
  hitCounter,
  me,
  part,
  refusalReason,
  serverKey,
  sign,
  signRaw,
  start,
} from './support.js';

const c = clock();
let ed: TestServer; // EdDSA (default), leeway 5
let access: string; // a genuine access token of a live session on `ed`

before(async () => {
  ed = await start({}, { now: c.now });
  access = (await signup(ed.url)).access_token;
});
after(() => ed.close());

const claims = (o: Record<string, unknown> = {}) => goodClaims(ed, access, o);
const tok = (o: Record<string, unknown> = {}, h: Record<string, unknown> = {}) => sign(ed, { ...goodHeader(ed), ...h }, claims(o));

async function jwks(srv: TestServer): Promise<{ keys: Array<Record<string, string>> }> {
  return (await call(srv.url, 'GET', '/.well-known/jwks.json')).body;
}

function hs(alg: 'HS256' | 'HS384' | 'HS512', secret: Buffer | string, header: Record<string, unknown>, payload: unknown): string {
  const input = `${part(header)}.${part(payload)}`;
  const h = createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url');
  return `${input}.${h}`;
}

describe('control', () => {
  it('a genuine server-issued token and a re-signed one with every claim right are accepted', async () => {
    await assertAccepted(ed, access, 'issued');
    await assertAccepted(ed, tok(), 're-signed');
    // The RFC 9068 §4 media-type spelling of typ is the same type.
    await assertAccepted(ed, tok({}, { typ: 'application/at+jwt' }), 'typ media type');
  });
});

describe('alg: none and missing (RFC 8725 §2.1, §3.1)', () => {
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`refuses alg "${alg}" unsigned and with a signature attached`, async () => {
      const unsigned = `${part({ ...goodHeader(ed), alg })}.${part(claims())}.`;
      await assertRefused(ed, unsigned, 'malformed', `${alg} unsigned`);
      const withSig = `${part({ ...goodHeader(ed), alg })}.${part(claims())}.${tok().split('.')[2]}`;
      await assertRefused(ed, withSig, 'alg_mismatch', `${alg} with a stolen signature`);
    });
  }

  it('refuses a header without alg, and alg of a non-string type', async () => {
    const { alg: _drop, ...noAlg } = goodHeader(ed);
    await assertRefused(ed, sign(ed, noAlg, claims()), 'bad_header', 'missing alg');
    await assertRefused(ed, sign(ed, { ...goodHeader(ed), alg: ['EdDSA'] }, claims()), 'bad_header', 'alg array');
    await assertRefused(ed, sign(ed, { ...goodHeader(ed), alg: null }, claims()), 'bad_header', 'alg null');
  });
});

describe('key confusion: HMAC with our public key (RFC 8725 §2.1)', () => {
  it('HS256/384/512 on the EdDSA key: raw x, PEM, leading-space PEM, JWK JSON, JWKS JSON', async () => {
    const set = await jwks(ed);
    const jwk = set.keys[0]!;
    const pub = ed.latchkey.ctx.keys.verificationKey(jwk.kid!)!.publicKey;
    const pem = pub.export({ type: 'spki', format: 'pem' }).toString();
    const secrets: Array<[string, Buffer | string]> = [
      ['raw x', Buffer.from(jwk.x!, 'base64url')],
      ['x as text', jwk.x!],
      ['PEM', pem],
      ['leading-space PEM', ` ${pem}`],
      ['PEM without newline', pem.trim()],
      ['DER', pub.export({ type: 'spki', format: 'der' })],
      ['JWK JSON', JSON.stringify(jwk)],
      ['JWKS JSON', JSON.stringify(set)],
    ];
    for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
      for (const [what, secret] of secrets) {
        await assertRefused(ed, hs(alg, secret, { ...goodHeader(ed), alg }, claims()), 'alg_mismatch', `${alg} ${what}`);
      }
    }
  });

  it('HS256 on the RS256 key: PEM (PKCS#1 and SPKI), leading-space PEM, JWK JSON', async () => {
    const rs = await start({ LATCHKEY_ALG: 'RS256' }, { now: c.now });
    try {
      const u = await signup(rs.url);
      await assertAccepted(rs, u.access_token, 'RS256 control');
      // The active key; a shared key store (PostgreSQL) may still publish a retired key beside it.
      const jwk = (await jwks(rs)).keys.find((k) => k.kid === rs.latchkey.ctx.keys.signingKey().kid)!;
      assert.equal(jwk.kty, 'RSA');
      const pub = rs.latchkey.ctx.keys.verificationKey(jwk.kid!)!.publicKey;
      const spki = pub.export({ type: 'spki', format: 'pem' }).toString();
      const pkcs1 = pub.export({ type: 'pkcs1', format: 'pem' }).toString();
      const payload = goodClaims(rs, u.access_token);
      for (const [what, secret] of [
        ['SPKI PEM', spki],
        ['PKCS#1 PEM', pkcs1],
        ['leading-space PEM', ` ${spki}`],
        ['leading-newline PEM', `\n${spki}`],
        ['JWK JSON', JSON.stringify(jwk)],
      ] as const) {
        await assertRefused(rs, hs('HS256', secret, { ...goodHeader(rs), alg: 'HS256' }, payload), 'alg_mismatch', `HS256 ${what}`);
      }
    } finally {
      await rs.close();
    }
  });
});

describe('algorithm substitution on the key (RFC 8725 §3.1)', () => {
  it('PS256 genuinely signed with our own RS256 private key is still refused; RS256 is accepted', async () => {
    const rs = await start({ LATCHKEY_ALG: 'RS256' }, { now: c.now });
    try {
      const u = await signup(rs.url);
      const k = serverKey(rs);
      const payload = goodClaims(rs, u.access_token);
      await assertAccepted(rs, sign(rs, goodHeader(rs), payload), 'RS256 control');
      for (const [alg, digest, padding] of [
        ['PS256', 'sha256', constants.RSA_PKCS1_PSS_PADDING],
        ['PS384', 'sha384', constants.RSA_PKCS1_PSS_PADDING],
        ['RS384', 'sha384', constants.RSA_PKCS1_PADDING],
        ['RS512', 'sha512', constants.RSA_PKCS1_PADDING],
      ] as const) {
        const input = `${part({ ...goodHeader(rs), alg })}.${part(payload)}`;
        const sig = nodeSign(digest, Buffer.from(input), { key: k.privateKey, padding, saltLength: 32 });
        await assertRefused(rs, `${input}.${sig.toString('base64url')}`, 'alg_mismatch', alg);
      }
      // A PS256 signature presented under the RS256 label: the RS256 check fails on it.
      const input = `${part(goodHeader(rs))}.${part(payload)}`;
      const pss = nodeSign('sha256', Buffer.from(input), { key: k.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING });
      await assertRefused(rs, `${input}.${pss.toString('base64url')}`, 'bad_signature', 'PSS bytes labelled RS256');
    } finally {
      await rs.close();
    }
  });

  it('other asymmetric algs named on the EdDSA key are refused (ES256, RS256, Ed25519, EdDSA lowercase)', async () => {
    for (const alg of ['ES256', 'RS256', 'Ed25519', 'eddsa', 'EDDSA', 'EdDSA ']) {
      const forged = `${part({ ...goodHeader(ed), alg })}.${part(claims())}.${tok().split('.')[2]}`;
      await assertRefused(ed, forged, 'alg_mismatch', alg);
    }
  });
});

describe('kid (RFC 8725 §3.10: kid only ever selects among our keys)', () => {
  const hostile: Array<[string, unknown]> = [
    ['path traversal', '../../../../../../etc/passwd'],
    ['path traversal to /dev/null', '../../../../dev/null'],
    ['encoded traversal', '..%2f..%2fetc%2fpasswd'],
    ['SQL injection', "x' OR '1'='1' --"],
    ['SQL union', "' UNION SELECT private_jwk FROM signing_keys --"],
    ['shell injection', '$(touch /tmp/latchkey-pwned)'],
    ['shell backticks', '`id`; rm -rf /'],
    ['empty', ''],
    ['number', 1],
    ['null', null],
    ['object', { $ne: null }],
    ['array', ['a']],
    ['5 KB (under the token cap)', 'k'.repeat(5000)],
  ];
  for (const [what, kid] of hostile) {
    it(`refuses kid as ${what}`, async () => {
      await assertRefused(ed, tok({}, { kid }), 'bad_header', what);
    });
  }

  it('refuses a missing kid, a 10 KB kid (over the token cap) and an unknown well-formed kid', async () => {
    const { kid: _drop, ...noKid } = goodHeader(ed);
    await assertRefused(ed, sign(ed, noKid, claims()), 'bad_header', 'missing kid');
    await assertRefused(ed, tok({}, { kid: 'k'.repeat(10 * 1024) }), 'too_long', '10 KB kid');
    await assertRefused(ed, tok({}, { kid: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), 'unknown_kid', 'unknown kid');
  });

  it('a flood of unknown kids is answered 401 each, and the real key keeps working', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => me(ed, tok({}, { kid: `unknown-${i}` }))));
    for (const r of results) assertInvalidToken(r, 'unknown kid flood');
    await assertAccepted(ed, tok());
  });
});

describe('key material and URLs in the header (RFC 8725 §3.10, RFC 7515 §4.1)', () => {
  it('refuses embedded jwk/jku/x5u/x5c/x5t headers, and never fetches a URL', async () => {
    const counter = await hitCounter();
    try {
      const attacker = generateKeyPairSync('ed25519');
      const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
      const attackerKid = jwkThumbprint(attackerJwk);
      const signAttacker = (header: Record<string, unknown>) => {
        const input = `${part(header)}.${part(claims())}`;
        return `${input}.${nodeSign(null, Buffer.from(input), attacker.privateKey).toString('base64url')}`;
      };
      const headers: Array<[string, Record<string, unknown>]> = [
        ['jwk (attacker key, attacker kid)', { alg: 'EdDSA', typ: 'at+jwt', kid: attackerKid, jwk: attackerJwk }],
        ['jwk (attacker key, our kid)', { ...goodHeader(ed), jwk: attackerJwk }],
        ['jku', { alg: 'EdDSA', typ: 'at+jwt', kid: attackerKid, jku: `${counter.url}/jwks.json` }],
        ['jku with our kid', { ...goodHeader(ed), jku: `${counter.url}/jwks.json` }],
        ['x5u', { alg: 'EdDSA', typ: 'at+jwt', kid: attackerKid, x5u: `${counter.url}/cert.pem` }],
        ['x5c', { alg: 'EdDSA', typ: 'at+jwt', kid: attackerKid, x5c: [b64u('not really a certificate')] }],
        ['x5t', { ...goodHeader(ed), x5t: b64u('thumb') }],
      ];
      for (const [what, header] of headers) await assertRefused(ed, signAttacker(header), 'bad_header', `${what} (attacker-signed)`);
      // The same headers on a token our own key signed: refused for the header, not the signature.
      for (const [what, header] of headers) await assertRefused(ed, sign(ed, { ...header, ...goodHeader(ed) }, claims()), 'bad_header', `${what} (our signature)`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(counter.hits(), 0, 'the server made an outbound request');
    } finally {
      await counter.close();
    }
  });
});

describe('crit (RFC 7515 §4.1.11, RFC 7797)', () => {
  it('refuses crit with b64:false, an unknown crit, an empty crit and a non-array crit', async () => {
    const h = goodHeader(ed);
    // RFC 7797 unencoded payload: the signing input carries the raw JSON.
    const raw = JSON.stringify(claims());
    const unencodedHeader = part({ ...h, b64: false, crit: ['b64'] });
    const k = serverKey(ed);
    const sig = signJws(k.alg, k.privateKey, Buffer.from(`${unencodedHeader}.${raw}`)).toString('base64url');
    await assertRefused(ed, `${unencodedHeader}..${sig}`, 'bad_header', 'b64:false detached');
    await assertRefused(ed, sign(ed, { ...h, b64: false, crit: ['b64'] }, claims()), 'bad_header', 'b64:false encoded');
    await assertRefused(ed, sign(ed, { ...h, crit: ['exp'] }, claims()), 'bad_header', 'unknown crit');
    await assertRefused(ed, sign(ed, { ...h, crit: ['urn:example:must-understand'], 'urn:example:must-understand': 1 }, claims()), 'bad_header', 'private crit');
    await assertRefused(ed, sign(ed, { ...h, crit: [] }, claims()), 'bad_header', 'empty crit');
    await assertRefused(ed, sign(ed, { ...h, crit: 'b64' }, claims()), 'bad_header', 'string crit');
  });
});

describe('ES256 psychic signature (CVE-2022-21449, RFC 8725 §3.3)', () => {
  it('refuses r = s = 0, r = s = n, and a DER-encoded signature; a genuine ES256 token passes', async () => {
    const es = await start({ LATCHKEY_ALG: 'ES256' }, { now: c.now });
    try {
      const u = await signup(es.url);
      await assertAccepted(es, u.access_token, 'ES256 control');
      const input = `${part(goodHeader(es))}.${part(goodClaims(es, u.access_token))}`;
      const n = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');
      await assertRefused(es, `${input}.${b64u(Buffer.alloc(64))}`, 'bad_signature', 'r = s = 0');
      await assertRefused(es, `${input}.${b64u(Buffer.concat([n, n]))}`, 'bad_signature', 'r = s = n');
      await assertRefused(es, `${input}.${b64u(Buffer.concat([Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([1])]))}`, 'bad_signature', 'r = s = 1');
      const k = serverKey(es);
      const der = nodeSign('sha256', Buffer.from(input), { key: k.privateKey, dsaEncoding: 'der' });
      await assertRefused(es, `${input}.${der.toString('base64url')}`, 'bad_signature', 'DER signature');
      await assertRefused(es, `${input}.`, 'malformed', 'empty signature');
    } finally {
      await es.close();
    }
  });
});

describe('serialization (RFC 7515 §7.1 compact only)', () => {
  it('refuses JSON serializations, 1, 2, 4 and 5 segments', async () => {
    const [h, p, s] = tok().split('.') as [string, string, string];
    const refusals: Array<[string, string]> = [
      ['flattened JSON', JSON.stringify({ protected: h, payload: p, signature: s })],
      ['general JSON', JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] })],
      ['1 segment', h],
      ['2 segments', `${h}.${p}`],
      ['4 segments', `${h}.${p}.${s}.${s}`],
      ['5 segments (JWE shape)', `${h}.${p}.${s}.${p}.${s}`],
      ['trailing dot', `${h}.${p}.${s}.`],
      ['leading dot', `.${h}.${p}.${s}`],
    ];
    for (const [what, t] of refusals) await assertRefused(ed, t, 'malformed', what);
  });

  it('refuses padding, non-base64url characters and altered unused bits in each segment', async () => {
    // A signature with a '-' or '_' (~93 % of them), so that its standard-alphabet form differs.
    let good = tok();
    while (!/[-_]/.test(good.split('.')[2]!)) good = tok();
    await assertAccepted(ed, good);
    const [h, p, s] = good.split('.') as [string, string, string];
    const stdSig = Buffer.from(s, 'base64url').toString('base64');
    const cases: Array<[string, string]> = [
      ['padded signature', `${h}.${p}.${s}==`],
      ['padded header', `${h}=.${p}.${s}`],
      ['standard-alphabet signature', `${h}.${p}.${stdSig.replace(/=+$/, '')}`],
      ['space inside', `${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`],
      ['percent-encoded', `${h}.${p}.${encodeURIComponent(stdSig)}`],
      ['non-ASCII', `${h}.${p}.${s.slice(0, -1)}é`],
    ];
    // A 64-byte signature is 86 characters: the last carries 4 unused bits. Flipping them decodes
    // to the same bytes in a lenient decoder, so only the canonical-form check can refuse it.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const flip = (seg: string) => seg.slice(0, -1) + alphabet[alphabet.indexOf(seg.at(-1)!) ^ 1];
    assert.deepEqual(Buffer.from(flip(s), 'base64url'), Buffer.from(s, 'base64url'), 'the altered signature decodes to the same bytes');
    cases.push(['altered unused bits in the signature', `${h}.${p}.${flip(s)}`]);
    if (h.length % 4 !== 0) cases.push(['altered unused bits in the header', `${flip(h)}.${p}.${s}`]);
    if (p.length % 4 !== 0) cases.push(['altered unused bits in the payload', `${h}.${flip(p)}.${s}`]);
    for (const [what, t] of cases) assertInvalidToken(await me(ed, t), what);
    for (const [what, t] of cases) assert.notEqual(refusalReason(ed, t), 'accepted', what);
  });
});

describe('size bounds', () => {
  it('a validly signed token over 8 KB is refused before parsing; a large one under the cap is not', async () => {
    const under = tok({ pad: 'x'.repeat(5000) });
    assert.ok(under.length < 8192);
    await assertAccepted(ed, under, 'under 8 KB');
    const over = tok({ pad: 'x'.repeat(6500) });
    assert.ok(over.length > 8192);
    await assertRefused(ed, over, 'too_long', 'over 8 KB');
  });

  it('an over-large Authorization header gets a 4xx (431), and the server keeps serving', async () => {
    for (const size of [17 * 1024, 64 * 1024, 512 * 1024]) {
      const r = await call(ed.url, 'GET', '/auth/me', { headers: { authorization: `Bearer ${'a'.repeat(size)}` } }).catch((e: Error) => e);
      if (r instanceof Error) continue; // the server may cut the connection instead of answering
      assert.ok(r.status >= 400 && r.status < 500, `size ${size}: ${r.status}`);
      assert.equal(r.status, 431);
      assert.deepEqual(r.body, { error: 'invalid_request', error_description: 'request headers too large', reason: 'headers_too_large' });
    }
    await assertAccepted(ed, tok(), 'still serving');
  });
});

describe('nested tokens (RFC 8725 §2.8, §3.11)', () => {
  it('refuses cty: JWT, zip, a JWT as the payload, and a JSON string payload', async () => {
    await assertRefused(ed, tok({}, { cty: 'JWT' }), 'bad_header', 'cty JWT');
    await assertRefused(ed, tok({}, { cty: 'at+jwt' }), 'bad_header', 'cty at+jwt');
    await assertRefused(ed, tok({}, { zip: 'DEF' }), 'bad_header', 'zip (RFC 8725 §3.6)');
    const inner = tok();
    await assertRefused(ed, signRaw(ed, JSON.stringify({ ...goodHeader(ed), cty: 'JWT' }), inner), 'bad_header', 'nested with cty');
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), inner), 'bad_claims', 'nested without cty');
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), JSON.stringify(inner)), 'bad_claims', 'JSON string payload');
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), JSON.stringify([claims()])), 'bad_claims', 'array payload');
  });
});

describe('exp, nbf, iat (RFC 9068 §4, RFC 7519 §4.1.4-4.1.5)', () => {
  it('with zero leeway: exp equal to now is refused, exp one second later is accepted', async () => {
    const z = await start({ LATCHKEY_CLOCK_LEEWAY: '0' }, { now: c.now });
    try {
      const u = await signup(z.url);
      const now = Math.floor(c.now() / 1000);
      assert.equal(c.now() % 1000, 0, 'the clock sits on a whole second');
      const at = (exp: number) => sign(z, goodHeader(z), goodClaims(z, u.access_token, { iat: exp - 60, exp }));
      await assertAccepted(z, at(now + 1), 'exp = now + 1');
      await assertRefused(z, at(now), 'expired', 'exp = now');
      await assertRefused(z, at(now - 1), 'expired', 'exp = now - 1');
    } finally {
      await z.close();
    }
  });

  it('refuses exp missing, a string, null, negative, a boolean, an array, 1e309, in milliseconds, years out', async () => {
    const now = Math.floor(c.now() / 1000);
    await assertRefused(ed, tok({ exp: undefined }), 'bad_claims', 'missing exp');
    await assertRefused(ed, tok({ exp: String(now + 60) }), 'bad_claims', 'string exp');
    await assertRefused(ed, tok({ exp: null }), 'bad_claims', 'null exp');
    await assertRefused(ed, tok({ exp: -1 }), 'bad_claims', 'negative exp');
    await assertRefused(ed, tok({ exp: true }), 'bad_claims', 'boolean exp');
    await assertRefused(ed, tok({ exp: [now + 60] }), 'bad_claims', 'array exp');
    const text = JSON.stringify(claims({ exp: 0 })).replace('"exp":0', '"exp":1e309');
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), text), 'bad_claims', 'exp 1e309 (Infinity)');
    await assertRefused(ed, tok({ exp: (now + 60) * 1000 }), 'bad_claims', 'exp in milliseconds');
    await assertRefused(ed, tok({ exp: now + 10 * 365 * 86_400 }), 'bad_claims', 'exp ten years out');
    await assertRefused(ed, tok({ iat: undefined }), 'bad_claims', 'missing iat');
    await assertRefused(ed, tok({ iat: String(now) }), 'bad_claims', 'string iat');
  });

  it('refuses nbf and iat in the future past the 5 s leeway; accepts them inside it', async () => {
    const now = Math.floor(c.now() / 1000);
    await assertAccepted(ed, tok({ nbf: now + 4 }), 'nbf inside leeway');
    await assertRefused(ed, tok({ nbf: now + 6 }), 'not_yet_valid', 'nbf past leeway');
    await assertRefused(ed, tok({ nbf: now + 200, exp: now + 300 }), 'not_yet_valid', 'nbf minutes out');
    await assertRefused(ed, tok({ nbf: String(now) }), 'bad_claims', 'string nbf');
    await assertRefused(ed, tok({ nbf: null }), 'bad_claims', 'null nbf');
    await assertAccepted(ed, tok({ iat: now + 4, exp: now + 64 }), 'iat inside leeway');
    await assertRefused(ed, tok({ iat: now + 6, exp: now + 66 }), 'not_yet_valid', 'iat past leeway');
  });

  it('a server-issued token stops working once its exp passes the leeway', async () => {
    const u = await signup(ed.url);
    const t0 = c.now();
    try {
      c.advance((300 + 4) * 1000);
      await assertAccepted(ed, u.access_token, 'inside the leeway');
      c.advance(2000);
      await assertRefused(ed, u.access_token, 'expired', 'past exp + leeway');
    } finally {
      c.set(t0);
    }
  });
});

describe('typ (RFC 8725 §3.11, RFC 9068 §4)', () => {
  for (const [what, typ] of [
    ['JWT', 'JWT'],
    ['jwt', 'jwt'],
    ['id+jwt', 'id+jwt'],
    ['application/jwt', 'application/jwt'],
    ['at+jwt with a suffix', 'at+jwt; charset=utf-8'],
    ['empty', ''],
    ['a number', 1],
    ['null', null],
  ] as const) {
    it(`refuses typ ${what}`, async () => {
      await assertRefused(ed, tok({}, { typ }), typeof typ === 'string' ? 'bad_typ' : 'bad_header', what);
    });
  }
  it('refuses a missing typ', async () => {
    const { typ: _drop, ...noTyp } = goodHeader(ed);
    await assertRefused(ed, sign(ed, noTyp, claims()), 'bad_header', 'missing typ');
  });
});

describe('iss (RFC 9068 §4, RFC 8725 §3.8)', () => {
  it('refuses a foreign issuer, a trailing slash, case changes, missing and non-string iss', async () => {
    const iss = ed.latchkey.ctx.config.issuer;
    await assertRefused(ed, tok({ iss: 'https://evil.example' }), 'wrong_issuer', 'foreign');
    await assertRefused(ed, tok({ iss: `${iss}/` }), 'wrong_issuer', 'trailing slash');
    await assertRefused(ed, tok({ iss: iss.toUpperCase() }), 'wrong_issuer', 'upper case');
    await assertRefused(ed, tok({ iss: `${iss}.evil.example` }), 'wrong_issuer', 'suffix');
    await assertRefused(ed, tok({ iss: undefined }), 'bad_claims', 'missing');
    await assertRefused(ed, tok({ iss: [iss] }), 'bad_claims', 'array');
  });
});

describe('aud (RFC 9068 §4, RFC 8725 §3.9)', () => {
  it('refuses aud missing, empty, empty array, non-string, and another API’s; accepts an array containing ours', async () => {
    const aud = ed.latchkey.ctx.config.audience;
    await assertAccepted(ed, tok({ aud: ['https://other-api.example', aud] }), 'array with ours');
    await assertRefused(ed, tok({ aud: undefined }), 'wrong_audience', 'missing');
    await assertRefused(ed, tok({ aud: '' }), 'wrong_audience', 'empty string');
    await assertRefused(ed, tok({ aud: [] }), 'wrong_audience', 'empty array');
    await assertRefused(ed, tok({ aud: 42 }), 'wrong_audience', 'number');
    await assertRefused(ed, tok({ aud: { aud } }), 'wrong_audience', 'object');
    await assertRefused(ed, tok({ aud: [aud, 42] }), 'wrong_audience', 'array with a non-string');
    await assertRefused(ed, tok({ aud: 'https://other-api.example' }), 'wrong_audience', 'another API');
    await assertRefused(ed, tok({ aud: ['https://other-api.example'] }), 'wrong_audience', 'another API in an array');
    await assertRefused(ed, tok({ aud: `${aud}/` }), 'wrong_audience', 'trailing slash');
  });
});

describe('other claims', () => {
  it('refuses duplicate claim keys, also behind a JSON escape, and duplicate header keys', async () => {
    const c0 = claims();
    const body = JSON.stringify(c0);
    const dupSub = body.replace('{', '{"sub":"someone-else",');
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), dupSub), 'bad_claims', 'duplicate sub');
    const dupEscaped = body.replace('{', '{"s\\u0075b":"someone-else",');
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), dupEscaped), 'bad_claims', 'duplicate escaped sub');
    const dupExp = body.replace('{', `{"exp":${Math.floor(c.now() / 1000) + 10 ** 6},`);
    await assertRefused(ed, signRaw(ed, JSON.stringify(goodHeader(ed)), dupExp), 'bad_claims', 'duplicate exp');
    const header = JSON.stringify(goodHeader(ed)).replace('{', '{"alg":"none",');
    await assertRefused(ed, signRaw(ed, header, body), 'bad_header', 'duplicate alg');
  });

  it('refuses missing or empty sub, sid, jti, client_id; an unknown client; a non-string scope', async () => {
    for (const name of ['sub', 'sid', 'jti', 'client_id']) {
      await assertRefused(ed, tok({ [name]: undefined }), 'bad_claims', `missing ${name}`);
      await assertRefused(ed, tok({ [name]: '' }), 'bad_claims', `empty ${name}`);
      await assertRefused(ed, tok({ [name]: 7 }), 'bad_claims', `numeric ${name}`);
    }
    await assertRefused(ed, tok({ scope: ['admin'] }), 'bad_claims', 'array scope');
    // Passes verification, refused by the server's client check.
    await assertRefused(ed, tok({ client_id: 'not-a-client' }), null, 'unknown client_id');
  });

  it('a validly signed token for another user id or a revoked session is refused', async () => {
    await assertRefused(ed, tok({ sub: '00000000-0000-0000-0000-000000000000' }), null, 'no such user');
    const u = await signup(ed.url);
    const forged = sign(ed, goodHeader(ed), goodClaims(ed, u.access_token));
    await assertAccepted(ed, forged, 'before logout');
    assert.equal((await call(ed.url, 'POST', '/auth/logout', { token: u.access_token })).status, 204);
    await assertRefused(ed, forged, null, 'after logout');
  });
});

describe('transport (RFC 6750 §2)', () => {
  it('takes the token only from the Authorization header: not from the query or a form body', async () => {
    const t = tok();
    const q = await call(ed.url, 'GET', `/auth/me?access_token=${t}`);
    assert.equal(q.status, 401);
    const f = await call(ed.url, 'POST', '/auth/logout', { form: `access_token=${t}` });
    assert.equal(f.status, 401);
    for (const scheme of ['Basic', 'Token', 'MAC', 'Bearer:', 'Bearer\t']) {
      const r = await call(ed.url, 'GET', '/auth/me', { headers: { authorization: `${scheme}${scheme.endsWith('\t') ? '' : ' '}${t}` } });
      assert.equal(r.status, 401, scheme);
    }
    await assertAccepted(ed, t);
  });
});
