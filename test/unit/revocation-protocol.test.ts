// The revocation feed's kinds (issue 14 item 3): a revocation says whether the session was
// revoked as stolen and how (reuse: an older refresh token replayed; copy: a key-bound session's
// token used without its key). The Redis wire form must stay readable by releases that predate
// `copy`: their reader is reproduced below exactly as it shipped, and must still see every
// revocation (a verifier needs only the sid and until) and call a copy a reuse, as it always did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeRevocation,
  mergeRevocationMembers,
  revocationMembers,
  revocationMessages,
} from '../../packages/core/src/redis/revocation-protocol.js';
import { RevocationSet } from '../../packages/core/src/revocation/revocation-set.js';
import { mergeTheft } from '../../packages/core/src/revocation/theft.js';
import type { Revocation } from '../../packages/core/src/revocation/types.js';

// @latchkey/core's reader before `copy` (main at 4c4399c), verbatim but for names.
interface OldRevocation {
  sessionId: string;
  until: number;
  reuse?: boolean;
}
function oldDecode(message: string): OldRevocation | null {
  const [sessionId, untilRaw, flag, ...rest] = message.split(' ');
  const until = Number(untilRaw);
  if (!sessionId || rest.length > 0 || !Number.isSafeInteger(until) || (flag !== undefined && flag !== 'r')) return null;
  return flag === 'r' ? { sessionId, until, reuse: true } : { sessionId, until };
}
function oldMerge(flat: string[]): OldRevocation[] {
  const bySid = new Map<string, OldRevocation>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const [sessionId, flag] = flat[i]!.split(' ') as [string, string | undefined];
    const until = Number(flat[i + 1]);
    if (!sessionId || !Number.isFinite(until)) continue;
    const prev = bySid.get(sessionId);
    const reuse = flag === 'r' || prev?.reuse === true;
    bySid.set(sessionId, { sessionId, until: Math.max(until, prev?.until ?? 0), ...(reuse ? { reuse: true } : {}) });
  }
  return [...bySid.values()];
}

const ended: Revocation = { sessionId: 'sA', until: 1_700_000_000_000 };
const reused: Revocation = { sessionId: 'sB', until: 1_700_000_000_001, theft: 'reuse' };
const copied: Revocation = { sessionId: 'sC', until: 1_700_000_000_002, theft: 'copy' };

/** What a subscriber ends up knowing from the messages it heard, in order. */
function heard(messages: string[]): Revocation | null {
  let out = null as Revocation | null;
  for (const m of messages) {
    const r = decodeRevocation(m);
    if (!r) continue;
    const theft = mergeTheft(out?.theft, r.theft);
    out = { sessionId: r.sessionId, until: Math.max(r.until, out?.until ?? 0), ...(theft ? { theft } : {}) };
  }
  return out;
}

test('messages: an ordinary end and a reuse keep their old form; a copy is its own form, then a reuse', () => {
  assert.deepEqual(revocationMessages(ended), ['sA 1700000000000']);
  assert.deepEqual(revocationMessages(reused), ['sB 1700000000001 r']);
  assert.deepEqual(revocationMessages(copied), ['sC 1700000000002 c', 'sC 1700000000002 r']);
  for (const r of [ended, reused, copied]) assert.deepEqual(heard(revocationMessages(r)), r, `round trip: ${r.theft ?? 'ended'}`);
});

test('messages: an old instance’s "r" still reads as a reuse; malformed ones are dropped', () => {
  assert.deepEqual(decodeRevocation('sB 1700000000001 r'), reused);
  assert.deepEqual(decodeRevocation('sA 1700000000000'), ended);
  for (const bad of ['', 'sA', 'sA x', 'sA 1700000000000 x', 'sA 1700000000000 r c', 'sA 1.5 r', ' 1700000000000 c']) {
    assert.equal(decodeRevocation(bad), null, JSON.stringify(bad));
  }
});

test('messages: a reader that predates copy still sees every revocation, and a copy as a reuse', () => {
  for (const r of [ended, reused, copied]) {
    const seen = revocationMessages(r).map(oldDecode).filter((x): x is OldRevocation => x !== null);
    assert.ok(seen.length >= 1, `${r.theft ?? 'ended'}: an old reader hears it`);
    for (const x of seen) assert.deepEqual([x.sessionId, x.until], [r.sessionId, r.until]);
    assert.equal(seen.some((x) => x.reuse === true), r.theft !== undefined, `${r.theft ?? 'ended'}: old reuse flag`);
  }
});

test('sorted-set members: round trip, merged per session; an old reader loads them all, a copy as a reuse', () => {
  const flat = (rs: Revocation[]) => rs.flatMap((r) => revocationMembers(r).flatMap((m) => [m, String(r.until)]));
  assert.deepEqual(revocationMembers(ended), ['sA']);
  assert.deepEqual(revocationMembers(reused), ['sB r']);
  assert.deepEqual(revocationMembers(copied), ['sC c', 'sC r']);
  const all = flat([ended, reused, copied]);
  assert.deepEqual(mergeRevocationMembers(all), [ended, reused, copied]);
  assert.deepEqual(oldMerge(all), [
    { sessionId: 'sA', until: ended.until },
    { sessionId: 'sB', until: reused.until, reuse: true },
    { sessionId: 'sC', until: copied.until, reuse: true },
  ]);
  // A session revoked several ways (logged out, then its copy's revocation arrives): latest until, the more specific kind.
  assert.deepEqual(mergeRevocationMembers(['sD', '10', 'sD c', '5', 'sD r', '5']), [{ sessionId: 'sD', until: 10, theft: 'copy' }]);
  assert.deepEqual(mergeRevocationMembers(['sE r', '5', 'sE', '9']), [{ sessionId: 'sE', until: 9, theft: 'reuse' }]);
});

test('mergeTheft: copy over reuse over none, in either order', () => {
  assert.equal(mergeTheft(undefined, undefined), undefined);
  assert.equal(mergeTheft(undefined, 'reuse'), 'reuse');
  assert.equal(mergeTheft('reuse', undefined), 'reuse');
  assert.equal(mergeTheft('reuse', 'copy'), 'copy');
  assert.equal(mergeTheft('copy', 'reuse'), 'copy');
});

test('RevocationSet.revokedBecause: the kind, ended for an ordinary end, null once lapsed or never revoked', () => {
  let now = 1000;
  const s = new RevocationSet(() => now);
  s.add({ sessionId: 'end', until: 2000 });
  s.add({ sessionId: 're', until: 2000, theft: 'reuse' });
  // A copy heard in both its forms, either order.
  s.add({ sessionId: 'cp', until: 2000, theft: 'copy' });
  s.add({ sessionId: 'cp', until: 2000, theft: 'reuse' });
  s.add({ sessionId: 'cp2', until: 2000, theft: 'reuse' });
  s.add({ sessionId: 'cp2', until: 2000, theft: 'copy' });
  // Anything else from the feed is no kind.
  s.add({ sessionId: 'odd', until: 2000, theft: 'bogus' as never });
  assert.equal(s.revokedBecause('end'), 'ended');
  assert.equal(s.revokedBecause('re'), 'reuse');
  assert.equal(s.revokedBecause('cp'), 'copy');
  assert.equal(s.revokedBecause('cp2'), 'copy');
  assert.equal(s.revokedBecause('odd'), 'ended');
  assert.equal(s.revokedBecause('never'), null);
  now = 2000;
  assert.equal(s.revokedBecause('cp'), null);
  // Forgotten with the entry: a later plain revocation of the same id is no theft.
  s.add({ sessionId: 'cp', until: 3000 });
  assert.equal(s.revokedBecause('cp'), 'ended');
});
