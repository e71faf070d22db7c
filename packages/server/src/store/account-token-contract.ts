// The contract of the emailed links' token store and of marking an address verified (issue 10),
// run against every adapter that holds users: SQLite and PostgreSQL. Shaped like ./contract.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { EmailTakenError } from '../domain/errors.js';
import { newUserId } from '../domain/ids.js';
import type { AccountTokenPurpose, AccountTokenRecord, AccountTokenStore, UserStore } from './types.js';

const T0 = 1_800_000_000_000;
const MIN = 60_000;

const hash = () => randomBytes(32).toString('hex');
const token = (userId: string, purpose: AccountTokenPurpose, over: Partial<AccountTokenRecord> = {}): AccountTokenRecord => ({
  hash: hash(),
  purpose,
  userId,
  email: `${randomBytes(4).toString('hex')}@example.com`,
  createdAt: T0,
  expiresAt: T0 + 30 * MIN,
  ...over,
});

export function accountTokenStoreContract(subject: () => AccountTokenStore): void {
  describe('account tokens', () => {
    let tokens: AccountTokenStore;
    before(() => {
      tokens = subject();
    });

    it('a token is consumed once: the first consume returns it as issued, every later one nothing', async () => {
      const t = token(newUserId(), 'reset_password');
      await tokens.issueAccountToken(t);
      assert.deepEqual(await tokens.consumeAccountToken(t.hash, ['reset_password'], T0 + MIN), t);
      assert.equal(await tokens.consumeAccountToken(t.hash, ['reset_password'], T0 + MIN), null);
      assert.equal(await tokens.consumeAccountToken(hash(), ['reset_password'], T0), null, 'an unknown hash');
    });

    it('of 20 concurrent consumes of one token exactly one gets it', async () => {
      const t = token(newUserId(), 'verify_email');
      await tokens.issueAccountToken(t);
      const got = await Promise.all(Array.from({ length: 20 }, () => tokens.consumeAccountToken(t.hash, ['verify_email'], T0)));
      assert.equal(got.filter((g) => g !== null).length, 1);
    });

    it('a newer token of a purpose kills the older; other purposes and other users keep theirs', async () => {
      const userId = newUserId();
      const old = token(userId, 'reset_password');
      const verify = token(userId, 'verify_email');
      const someoneElse = token(newUserId(), 'reset_password');
      for (const t of [old, verify, someoneElse]) await tokens.issueAccountToken(t);
      const newer = token(userId, 'reset_password', { createdAt: T0 + MIN });
      await tokens.issueAccountToken(newer);
      assert.equal(await tokens.consumeAccountToken(old.hash, ['reset_password'], T0 + MIN), null, 'the older link is dead');
      assert.deepEqual(await tokens.consumeAccountToken(newer.hash, ['reset_password'], T0 + MIN), newer);
      assert.deepEqual(await tokens.consumeAccountToken(verify.hash, ['verify_email'], T0 + MIN), verify);
      assert.deepEqual(await tokens.consumeAccountToken(someoneElse.hash, ['reset_password'], T0 + MIN), someoneElse);
    });

    it('peeking reads a live token of the purpose without using it up', async () => {
      const t = token(newUserId(), 'reset_password');
      await tokens.issueAccountToken(t);
      assert.deepEqual(await tokens.peekAccountToken(t.hash, ['reset_password'], T0), t);
      assert.equal(await tokens.peekAccountToken(t.hash, ['verify_email'], T0), null, 'another purpose');
      assert.equal(await tokens.peekAccountToken(t.hash, ['reset_password'], t.expiresAt), null, 'expired');
      assert.deepEqual(await tokens.consumeAccountToken(t.hash, ['reset_password'], T0), t, 'still there to be used');
      assert.equal(await tokens.peekAccountToken(t.hash, ['reset_password'], T0), null, 'used up');
    });

    it('an expired token is refused, and gone', async () => {
      const t = token(newUserId(), 'reset_password');
      await tokens.issueAccountToken(t);
      assert.equal(await tokens.consumeAccountToken(t.hash, ['reset_password'], t.expiresAt), null, 'at its expiry');
      assert.equal(await tokens.consumeAccountToken(t.hash, ['reset_password'], T0), null, 'and not there afterwards');
    });

    it('a token presented for another purpose is refused and stays usable for its own', async () => {
      const t = token(newUserId(), 'change_email');
      await tokens.issueAccountToken(t);
      assert.equal(await tokens.consumeAccountToken(t.hash, ['reset_password'], T0), null);
      assert.deepEqual(await tokens.consumeAccountToken(t.hash, ['verify_email', 'change_email'], T0), t);
    });

    it('deletes a user’s tokens, of some purposes or all, and no one else’s', async () => {
      const userId = newUserId();
      const [a, b, c] = [token(userId, 'verify_email'), token(userId, 'reset_password'), token(userId, 'change_email')];
      const other = token(newUserId(), 'reset_password');
      for (const t of [a, b, c, other]) await tokens.issueAccountToken(t);
      assert.equal(await tokens.deleteAccountTokens(userId, ['reset_password']), 1);
      assert.equal(await tokens.consumeAccountToken(b.hash, ['reset_password'], T0), null);
      assert.equal(await tokens.deleteAccountTokens(userId), 2);
      assert.equal(await tokens.consumeAccountToken(a.hash, ['verify_email'], T0), null);
      assert.equal(await tokens.consumeAccountToken(c.hash, ['change_email'], T0), null);
      assert.deepEqual(await tokens.consumeAccountToken(other.hash, ['reset_password'], T0), other);
    });
  });
}

export function emailVerificationContract(subject: () => UserStore): void {
  describe('users: verified addresses', () => {
    it('marks the address verified only while the user still has it, and keeps the first time', async () => {
      const users = subject();
      const u = { id: newUserId(), email: `${randomBytes(6).toString('hex')}@example.com`, passwordHash: 'h', createdAt: T0 };
      await users.createUser(u);
      assert.equal((await users.findUserById(u.id))?.emailVerifiedAt ?? null, null, 'unverified at first');
      assert.equal(await users.markEmailVerified(u.id, `other-${u.email}`, T0 + 1), false, 'another address proves nothing');
      assert.equal((await users.findUserById(u.id))?.emailVerifiedAt ?? null, null);
      assert.equal(await users.markEmailVerified(u.id, u.email, T0 + 2), true);
      assert.equal(await users.markEmailVerified(u.id, u.email, T0 + 3), true, 'again: still verified');
      assert.equal((await users.findUserById(u.id))?.emailVerifiedAt, T0 + 2);
      assert.equal(await users.markEmailVerified(newUserId(), u.email, T0), false, 'no such user');
    });

    it('moves a user to a new address, verified; of concurrent moves and sign-ups to one address exactly one wins', async () => {
      const users = subject();
      const mk = async () => {
        const u = { id: newUserId(), email: `${randomBytes(6).toString('hex')}@example.com`, passwordHash: 'h', createdAt: T0 };
        await users.createUser(u);
        return u;
      };
      const a = await mk();
      const moved = `${randomBytes(6).toString('hex')}@example.com`;
      assert.equal(await users.changeEmail(a.id, moved, T0 + 5), true);
      assert.equal((await users.findUserByEmail(moved))?.id, a.id);
      assert.equal((await users.findUserById(a.id))?.emailVerifiedAt, T0 + 5);
      assert.equal(await users.findUserByEmail(a.email), null, 'the old address is free again');
      const contested = `${randomBytes(6).toString('hex')}@example.com`;
      const movers = await Promise.all(Array.from({ length: 6 }, mk));
      const attempts = await Promise.allSettled([
        ...movers.map((m) => users.changeEmail(m.id, contested, T0)),
        ...Array.from({ length: 6 }, () => users.createUser({ id: newUserId(), email: contested, passwordHash: 'h', createdAt: T0 })),
      ]);
      assert.equal(attempts.filter((x) => x.status === 'fulfilled').length, 1, 'one wins');
      for (const x of attempts) if (x.status === 'rejected') assert.ok(x.reason instanceof EmailTakenError, String(x.reason));
      assert.equal(await users.changeEmail(newUserId(), `${randomBytes(6).toString('hex')}@example.com`, T0), false);
    });

    it('replaces a password hash whatever it was', async () => {
      const users = subject();
      const u = { id: newUserId(), email: `${randomBytes(6).toString('hex')}@example.com`, passwordHash: 'old', createdAt: T0 };
      await users.createUser(u);
      assert.equal(await users.replacePasswordHash(u.id, 'new'), true);
      assert.equal((await users.findUserById(u.id))?.passwordHash, 'new');
      assert.equal(await users.replacePasswordHash(newUserId(), 'x'), false);
    });
  });
}
