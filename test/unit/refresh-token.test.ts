import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newSessionId, newUserId } from '../../packages/server/src/domain/ids.js';
import { decodeRefreshToken, encodeRefreshToken, REFRESH_TOKEN_LENGTH, type MacKeyring } from '../../packages/server/src/domain/refresh-token.js';

function ring(...ids: number[]): MacKeyring {
  const keys = ids.map((id) => ({ id, secret: randomBytes(32) }));
  return { current: keys[keys.length - 1]!, byId: new Map(keys.map((k) => [k.id, k])) };
}

describe('refresh-token format', () => {
  const r = ring(1);
  const sid = newSessionId(newUserId());

  it('round-trips session id and generation and is opaque base64url of fixed length', () => {
    const t = encodeRefreshToken(r, { sessionId: sid, generation: 41 });
    assert.equal(t.length, REFRESH_TOKEN_LENGTH);
    assert.match(t, /^[A-Za-z0-9_-]+$/);
    assert.equal(t.split('.').length, 1, 'not a JWT');
    assert.deepEqual(decodeRefreshToken(r, t), { sessionId: sid, generation: 41 });
  });

  it('differs per generation, and the store needs only (sid, generation) to recompute it', () => {
    const a = encodeRefreshToken(r, { sessionId: sid, generation: 1 });
    const b = encodeRefreshToken(r, { sessionId: sid, generation: 2 });
    assert.notEqual(a, b);
    assert.equal(encodeRefreshToken(r, { sessionId: sid, generation: 2 }), b, 'deterministic: the grace window can hand out the same successor');
  });

  it('refuses every single-character change', () => {
    const t = encodeRefreshToken(r, { sessionId: sid, generation: 3 });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < t.length; i++) {
      const c = alphabet[(alphabet.indexOf(t[i]!) + 1 + (i % 7)) % alphabet.length]!;
      const forged = t.slice(0, i) + c + t.slice(i + 1);
      assert.equal(decodeRefreshToken(r, forged), null, `position ${i}`);
    }
  });

  it('refuses truncated, extended, padded, other-alphabet and non-string input', () => {
    const t = encodeRefreshToken(r, { sessionId: sid, generation: 3 });
    for (const bad of [t.slice(0, -1), `${t}A`, `${t}=`, `${t.slice(0, 5)}+${t.slice(6)}`, '', 'x'.repeat(5000), `${t.slice(0, 10)}.${t.slice(11)}`]) {
      assert.equal(decodeRefreshToken(r, bad), null, bad.slice(0, 20));
    }
    assert.equal(decodeRefreshToken(r, 42 as unknown as string), null);
  });

  it('refuses a token made under another secret', () => {
    const other = ring(1);
    assert.equal(decodeRefreshToken(r, encodeRefreshToken(other, { sessionId: sid, generation: 0 })), null);
  });

  it('keeps accepting tokens of a previous MAC key after rotation, and issues under the new one', () => {
    const old = ring(1);
    const rotated: MacKeyring = { current: { id: 2, secret: randomBytes(32) }, byId: new Map([...old.byId, [2, { id: 2, secret: randomBytes(32) }]]) };
    rotated.byId = new Map([[1, old.current], [2, rotated.current]]);
    const before = encodeRefreshToken(old, { sessionId: sid, generation: 9 });
    assert.deepEqual(decodeRefreshToken(rotated, before), { sessionId: sid, generation: 9 });
    const after = encodeRefreshToken(rotated, { sessionId: sid, generation: 10 });
    assert.equal(decodeRefreshToken(old, after), null);
  });
});
