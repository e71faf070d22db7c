// Why a session ended, as every holder of it hears (issue 14 item 3): a replay of an older refresh
// token (refresh_token_reused, event session.reuse_detected reason reuse), a key-bound session's
// token used without its key (dpop_key_mismatch, session.key_mismatch reason copy), an expired
// session (session_expired, session.expired reason idle/absolute) and an ordinary end
// (session_ended, session.revoked with its reason). The kind must reach the victim's refresh and
// any other tab's, not only the request that tripped the detection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimsOf, DpopKey } from '../helpers/dpop.js';
import { refresh, signup, uniqueEmail, type Res } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const IDLE_S = 60;

let srv: TestServer;
let B: string;
let offsetMs = 0;

before(async () => {
  // Grace 0: a Bearer predecessor is reuse at once, so "an older token" needs no waiting.
  srv = await startServer({ LATCHKEY_REUSE_GRACE: '0', LATCHKEY_SESSION_IDLE: String(IDLE_S) }, { now: () => Date.now() + offsetMs });
  B = srv.url;
});
after(() => srv.close());

const sidOf = (r: Res) => claimsOf(r.body.access_token).sid as string;
/** A refresh without a proof, as a Bearer client or a thief without the key sends it. */
const bare = (rt: string) => refresh(B, rt);

function refused(r: Res, reason: string, who: string): void {
  assert.equal(r.status, 400, `${who}: ${r.text}`);
  assert.equal(r.body.error, 'invalid_grant', who);
  assert.equal(r.body.reason, reason, who);
}

describe('a key-bound session’s refresh token used without its key', () => {
  for (const thiefSends of ['no proof', 'its own key’s proof'] as const) {
    it(`(${thiefSends}): the copy, the victim’s refresh with its key and a second tab’s all hear dpop_key_mismatch`, async () => {
      const key = new DpopKey();
      const s = await key.signup(B, uniqueEmail());
      assert.equal(s.body.token_type, 'DPoP');
      const sid = sidOf(s);
      const rotated = await key.refresh(B, s.body.refresh_token);
      assert.equal(rotated.status, 200, rotated.text);
      const current = rotated.body.refresh_token;
      const copy = thiefSends === 'no proof' ? await bare(current) : await new DpopKey().refresh(B, current);
      refused(copy, 'dpop_key_mismatch', 'the copy');
      // Tab 1 holds the current token, tab 2 (behind) its predecessor; both prove with the key.
      refused(await key.refresh(B, current), 'dpop_key_mismatch', 'the victim’s refresh');
      refused(await key.refresh(B, s.body.refresh_token), 'dpop_key_mismatch', 'a second tab');
      refused(await bare(current), 'dpop_key_mismatch', 'the thief again');
      const events = srv.events('session.key_mismatch').filter((e) => e.sessionId === sid);
      assert.equal(events.length, 1, 'one detection');
      assert.equal(events[0]!.reason, 'copy');
      assert.equal(srv.events('session.reuse_detected').filter((e) => e.sessionId === sid).length, 0, 'not called a reuse');
      assert.equal((await key.resource(B, 'GET', '/auth/me', rotated.body.access_token)).body.reason, 'session_revoked');
    });
  }
});

describe('an older refresh token replayed', () => {
  it('Bearer: the replay, the victim’s current token and a second tab all hear refresh_token_reused', async () => {
    const s = await signup(B);
    const next = await bare(s.refresh_token);
    assert.equal(next.status, 200);
    const sid = sidOf(next);
    refused(await bare(s.refresh_token), 'refresh_token_reused', 'the replay');
    refused(await bare(next.body.refresh_token), 'refresh_token_reused', 'the victim’s refresh');
    refused(await bare(next.body.refresh_token), 'refresh_token_reused', 'a second tab');
    const events = srv.events('session.reuse_detected').filter((e) => e.sessionId === sid);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.reason, 'reuse');
    assert.equal(srv.events('session.key_mismatch').filter((e) => e.sessionId === sid).length, 0);
  });

  it('key-bound, with the key: a token two generations old is a reuse, and every holder hears refresh_token_reused', async () => {
    const key = new DpopKey();
    const s = await key.signup(B, uniqueEmail());
    const g1 = await key.refresh(B, s.body.refresh_token);
    const g2 = await key.refresh(B, g1.body.refresh_token);
    assert.equal(g2.status, 200, g2.text);
    const sid = sidOf(g2);
    refused(await key.refresh(B, s.body.refresh_token), 'refresh_token_reused', 'the replay of generation 0');
    refused(await key.refresh(B, g2.body.refresh_token), 'refresh_token_reused', 'the victim’s refresh');
    refused(await key.refresh(B, g1.body.refresh_token), 'refresh_token_reused', 'a second tab, one behind');
    // Without the key afterwards: the session is gone, its kind stays what it was.
    refused(await bare(g2.body.refresh_token), 'refresh_token_reused', 'a copy afterwards');
    assert.equal(srv.events('session.reuse_detected').filter((e) => e.sessionId === sid)[0]?.reason, 'reuse');
  });
});

describe('sessions that ended without a theft', () => {
  it('idle past LATCHKEY_SESSION_IDLE: session_expired, event session.expired reason idle', async () => {
    const s = await signup(B);
    const sid = claimsOf(s.access_token).sid as string;
    try {
      offsetMs += (IDLE_S + 1) * 1000;
      refused(await bare(s.refresh_token), 'session_expired', 'the refresh after the idle timeout');
    } finally {
      offsetMs = 0;
    }
    assert.equal(srv.events('session.expired').filter((e) => e.sessionId === sid)[0]?.reason, 'idle');
  });

  it('logout: session_ended, event session.revoked reason logout, never a theft reason', async () => {
    const key = new DpopKey();
    const s = await key.signup(B, uniqueEmail());
    const sid = sidOf(s);
    const out = await key.resource(B, 'POST', '/auth/logout', s.body.access_token);
    assert.ok(out.status < 300, out.text);
    refused(await key.refresh(B, s.body.refresh_token), 'session_ended', 'a refresh after logout, with the key');
    refused(await bare(s.body.refresh_token), 'session_ended', 'a copy after logout');
    assert.equal(srv.events('session.revoked').filter((e) => e.sessionId === sid)[0]?.reason, 'logout');
  });
});
