// Issue 10, "address and password hygiene" (ASVS 5.0 V6.2): every address below was accepted as
// a new account that displays like an existing one, and every password below was accepted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

const GOOD_PASSWORD = 'a sturdy passphrase 42';

describe('address and password hygiene', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  const signup = (email: string, password = GOOD_PASSWORD) => call(srv.url, 'POST', '/auth/signup', { json: { email, password } });
  // A raw body, so that a lone surrogate travels as the JSON escape it is (JSON.stringify would too, but say it plainly).
  const signupRaw = (json: string) => call(srv.url, 'POST', '/auth/signup', { body: json, headers: { 'content-type': 'application/json' } });

  function refused(r: { status: number; body: any }, reason: string, what: string) {
    assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error, 'invalid_request', what);
    assert.equal(r.body.reason, reason, what);
    assert.equal(typeof r.body.error_description, 'string');
  }

  it('refuses addresses with invisible, bidi-control or unpaired-surrogate characters, naming the rule', async () => {
    assert.equal((await signup('eve@example.com')).status, 201);
    refused(await signup('e\u200Bve@example.com'), 'email_invisible_character', 'zero-width space');
    refused(await signup('e\u00ADve@example.com'), 'email_invisible_character', 'soft hyphen');
    refused(await signup('eve@exa\u00ADmple.com'), 'email_invisible_character', 'soft hyphen in the domain');
    refused(await signup('eve\u2060@example.com'), 'email_invisible_character', 'word joiner');
    refused(await signup('\u202Emoc.elpmaxe@eve'), 'email_bidi_control', 'right-to-left override');
    refused(await signup('eve\u200F@example.com'), 'email_bidi_control', 'right-to-left mark');
    refused(await signupRaw(`{"email":"ev\\ud800e@example.com","password":"${GOOD_PASSWORD}"}`), 'email_unpaired_surrogate', 'lone high surrogate');
    refused(await signupRaw(`{"email":"ev\\udc00e@example.com","password":"${GOOD_PASSWORD}"}`), 'email_unpaired_surrogate', 'lone low surrogate');
    const users = await srv.latchkey.ctx.stores.users.listUsers({ limit: 10, emailContains: 'example.com' });
    assert.deepEqual(users.map((u) => u.email), ['eve@example.com'], 'no look-alike account was created');
  });

  it('a decomposed é is the same address as the composed one (NFC), and case does not make a new account', async () => {
    assert.equal((await signup('ren\u00E9@example.com')).status, 201);
    const nfd = await signup('rene\u0301@example.com');
    assert.equal(nfd.status, 409);
    assert.equal(nfd.body.reason, 'email_taken');
    assert.equal((await signup('  REN\u00C9@Example.COM ')).status, 409, 'trimmed and lower-cased');
    const login = await call(srv.url, 'POST', '/auth/login', { json: { email: 'rene\u0301@EXAMPLE.com', password: GOOD_PASSWORD } });
    assert.equal(login.status, 200, 'login normalises the same way');
  });

  it('IDN domains are kept in their ASCII form: the Unicode and the punycode spelling are one account', async () => {
    const r = await signup('ann@B\u00DCCHER.de');
    assert.equal(r.status, 201);
    assert.equal(r.body.user.email, 'ann@xn--bcher-kva.de');
    assert.equal((await signup('ann@xn--bcher-kva.de')).status, 409);
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: 'ann@bücher.de', password: GOOD_PASSWORD } })).status, 200);
  });

  it('a Cyrillic "е" among Latin letters is refused (mixed scripts); an all-Cyrillic address is its own mailbox', async () => {
    assert.equal((await signup('peter@example.com')).status, 201);
    refused(await signup('p\u0435ter@example.com'), 'email_mixed_scripts', 'Cyrillic е in a Latin local part');
    refused(await signup('peter@\u0435xample.com'), 'email_mixed_scripts', 'Cyrillic е in a Latin domain label');
    const cyr = await signup('\u043F\u0435\u0442\u0440@\u043F\u0440\u0438\u043C\u0435\u0440.\u0440\u0444');
    assert.equal(cyr.status, 201, 'petr@пример.рф: one script per part is a legitimate address');
    assert.equal(cyr.body.user.email, '\u043F\u0435\u0442\u0440@xn--e1afmkfd.xn--p1ai');
  });

  it('refuses common passwords, one repeated character, and the email or its local part, naming the rule', async () => {
    refused(await signup('pw1@example.com', 'password'), 'password_common', 'password');
    refused(await signup('pw1@example.com', 'Password'), 'password_common', 'case does not make it less common');
    refused(await signup('pw1@example.com', '12345678'), 'password_common', '12345678');
    refused(await signup('pw1@example.com', 'iloveyou'), 'password_common', 'iloveyou');
    refused(await signup('pw1@example.com', '        '), 'password_common', 'eight spaces');
    refused(await signup('correcthorse@example.com', 'correcthorse@example.com'), 'password_matches_email', 'the email');
    refused(await signup('correcthorse@example.com', 'CorrectHorse@Example.com'), 'password_matches_email', 'the email, other case');
    refused(await signup('correcthorse@example.com', 'correcthorse'), 'password_matches_email', 'the local part');
    assert.equal((await signup('correcthorse@example.com', 'correct horse battery staple')).status, 201);
    assert.equal((await signup('spaces@example.com', '  a b c d e  ')).status, 201, 'spaces are allowed, and not trimmed away');
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email: 'spaces@example.com', password: 'a b c d e' } })).status, 401, 'the password is used as typed');
  });
});
