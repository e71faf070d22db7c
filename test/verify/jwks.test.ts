// Which published keys the verifier trusts (RFC 8725 §3.1, §3.5; RFC 7517 §4.2-4.3), how it
// treats hostile discovery answers, the LRU and the revoked-session set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { publicJwkOf } from '../../packages/core/src/jwt/algorithms.js';
import { trustedKeys, DiscoveryError } from '../../packages/verify/src/jwks.js';
import { Lru } from '../../packages/core/src/jwt/lru.js';
import { RevocationSet } from '../../packages/core/src/revocation/revocation-set.js';
import { createVerifier, bearerTokenFrom, VerifyError } from '../../packages/verify/src/index.js';

const ed = () => publicJwkOf(generateKeyPairSync('ed25519').publicKey);
const ec = (namedCurve = 'P-256') => publicJwkOf(generateKeyPairSync('ec', { namedCurve }).publicKey);

test('trustedKeys: a key is trusted only for the one supported algorithm its JWK names, for signing', () => {
  const good = { ...ed(), kid: 'good', alg: 'EdDSA', use: 'sig' };
  const keys = trustedKeys({
    keys: [
      good,
      { ...ed(), kid: 'no-alg' },
      { ...ed(), kid: 'enc', alg: 'EdDSA', use: 'enc' },
      { ...ed(), kid: 'ops-sign-only', alg: 'EdDSA', key_ops: ['sign'] },
      { ...ed(), kid: 'ops-verify', alg: 'EdDSA', key_ops: ['verify'] },
      { ...ed(), kid: 'wrong-alg-for-key', alg: 'ES256' },
      { ...ec('P-384'), kid: 'p384-as-es256', alg: 'ES256' },
      { ...publicJwkOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), kid: 'rsa-1024', alg: 'RS256' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' },
      { ...ed(), kid: 'none-alg', alg: 'none' },
      { ...ec(), kid: 'es', alg: 'ES256' },
      { ...ed(), kid: 'dup', alg: 'EdDSA' },
      { ...ed(), kid: 'dup', alg: 'EdDSA' },
      { ...ed(), kid: 'dup2', alg: 'HS256' }, // even an unusable first copy makes the kid ambiguous
      { ...ed(), kid: 'dup2', alg: 'EdDSA' },
      { ...ed(), alg: 'EdDSA' }, // no kid: a Latchkey token always names one
      'not an object',
      null,
    ],
  });
  assert.deepEqual([...keys.keys()].sort(), ['es', 'good', 'ops-verify']);
  assert.equal(keys.get('good')?.alg, 'EdDSA');
  assert.equal(keys.get('es')?.alg, 'ES256');
});

test('trustedKeys: unchanged keys keep their objects across a refetch; changed material does not', () => {
  const jwk = { ...ed(), kid: 'k', alg: 'EdDSA' };
  const first = trustedKeys({ keys: [jwk] });
  assert.equal(trustedKeys({ keys: [{ ...jwk }] }, first).get('k'), first.get('k'));
  const swapped = trustedKeys({ keys: [{ ...ed(), kid: 'k', alg: 'EdDSA' }] }, first);
  assert.notEqual(swapped.get('k'), first.get('k'));
});

test('trustedKeys: a document without a keys array is an error', () => {
  assert.throws(() => trustedKeys({ keys: 'nope' }), DiscoveryError);
  assert.throws(() => trustedKeys({}), DiscoveryError);
});

async function hostile(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      }),
  };
}

test('discovery: oversized, non-JSON, redirecting or failing issuers give 503 jwks_unavailable, never a crash', async () => {
  const cases: Array<[string, http.RequestListener]> = [
    ['huge metadata', (_q, s) => s.writeHead(200, { 'content-type': 'application/json' }).end(`{"x":"${'a'.repeat(600 * 1024)}"}`)],
    ['not JSON', (_q, s) => s.writeHead(200).end('<html>')],
    ['JSON array', (_q, s) => s.writeHead(200).end('[]')],
    ['500', (_q, s) => s.writeHead(500).end()],
    ['redirect', (_q, s) => s.writeHead(302, { location: 'http://127.0.0.1:1/' }).end()],
  ];
  for (const [name, handler] of cases) {
    const srv = await hostile(handler);
    try {
      const v = createVerifier({ issuer: srv.url, audience: 'api' });
      await assert.rejects(v.verify('eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsifQ.e30.AAAA'), (e: unknown) => {
        assert.ok(e instanceof VerifyError, name);
        assert.equal(e.reason, 'jwks_unavailable', name);
        return true;
      });
    } finally {
      await srv.close();
    }
  }
});

test('discovery: a JWKS too big is refused; metadata and JWKS requests time out', async () => {
  let jwksHits = 0;
  const srv = await hostile((req, res) => {
    if (req.url?.endsWith('/oauth-authorization-server')) {
      res.writeHead(200).end(JSON.stringify({ issuer: `http://${req.headers.host}`, jwks_uri: `http://${req.headers.host}/jwks` }));
    } else if (req.url === '/jwks') {
      jwksHits++;
      res.writeHead(200).write(`{"keys":[${'{},'.repeat(300_000)}{}]}`);
      res.end();
    } else {
      // never answers
    }
  });
  try {
    const v = createVerifier({ issuer: srv.url, audience: 'api' });
    await assert.rejects(v.ready(), (e: unknown) => e instanceof VerifyError && e.reason === 'jwks_unavailable');
    assert.equal(jwksHits, 1);
    const slow = createVerifier({ issuer: `${srv.url}/silent`, audience: 'api', fetchTimeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(slow.ready(), (e: unknown) => e instanceof VerifyError && e.reason === 'jwks_unavailable');
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    await srv.close();
  }
});

test('createVerifier validates its options', () => {
  assert.throws(() => createVerifier({ issuer: 'ftp://x', audience: 'a' }), TypeError);
  assert.throws(() => createVerifier({ issuer: 'https://x', audience: '' }), TypeError);
  assert.throws(() => createVerifier({ issuer: 'https://x', audience: 'a', cacheSize: -1 }), TypeError);
  assert.throws(() => createVerifier({ issuer: 'https://x', audience: 'a', leewaySec: Number.NaN }), TypeError);
});

test('bearerTokenFrom: Authorization header only, scheme case-insensitive', () => {
  assert.equal(bearerTokenFrom('Bearer abc'), 'abc');
  assert.equal(bearerTokenFrom('bEaReR   abc  '), 'abc');
  assert.equal(bearerTokenFrom('Bearer'), null);
  assert.equal(bearerTokenFrom('Bearer '), null);
  assert.equal(bearerTokenFrom('Basic abc'), null);
  assert.equal(bearerTokenFrom('Bearerabc'), null);
  assert.equal(bearerTokenFrom(undefined), null);
  assert.equal(bearerTokenFrom(['Bearer a', 'Bearer b']), null);
});

test('Lru (second chance): a hot entry survives a stream of one-off entries; the bound holds', () => {
  const l = new Lru<string, number>(100);
  l.set('hot', 0);
  for (let i = 0; i < 10_000; i++) {
    l.set(`once-${i}`, i);
    assert.equal(l.get('hot'), 0, `hot entry evicted after ${i} inserts`);
    assert.ok(l.size <= 100);
  }
  l.set('hot', 1); // an update keeps the slot
  assert.equal(l.get('hot'), 1);
  assert.equal(l.size, 100);
});

test('Lru evicts the least recently used entry', () => {
  const l = new Lru<string, number>(2);
  l.set('a', 1);
  l.set('b', 2);
  l.get('a');
  l.set('c', 3);
  assert.equal(l.get('b'), undefined);
  assert.equal(l.get('a'), 1);
  assert.equal(l.get('c'), 3);
  assert.equal(l.size, 2);
  const off = new Lru<string, number>(0);
  off.set('a', 1);
  assert.equal(off.get('a'), undefined);
});

test('RevocationSet: entries lapse at `until`; a later until extends, an earlier one does not shorten', () => {
  let now = 1000;
  const s = new RevocationSet(() => now);
  s.add({ sessionId: 'a', until: 2000 });
  s.add({ sessionId: 'a', until: 1500 });
  s.add({ sessionId: 'past', until: 900 });
  s.add({ sessionId: 'junk', until: Number.NaN });
  assert.ok(s.has('a'));
  assert.ok(!s.has('past'));
  assert.ok(!s.has('junk'));
  now = 1999;
  assert.ok(s.has('a'));
  now = 2000;
  assert.ok(!s.has('a'));
  // Memory follows live revocations only.
  for (let i = 0; i < 5000; i++) s.add({ sessionId: `s${i}`, until: now + 1 });
  now += 2;
  s.add({ sessionId: 'fresh', until: now + 1000 });
  s.sweep();
  assert.equal(s.size, 1);
});
