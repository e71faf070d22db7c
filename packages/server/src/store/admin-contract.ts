// The contract of what operators' commands need from the durable store (users listing, disabling,
// deletion, admin keys, MAC key listing), run against every adapter that holds users: SQLite and
// PostgreSQL. Redis holds no users. Kept beside ./contract.ts and shaped like it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newAdminKey } from '../domain/admin-keys.js';
import type { Stores, UserRecord } from './types.js';

export interface AdminContractSubject {
  stores: Stores;
  cleanup(): Promise<void>;
}

const user = (email: string, createdAt = 1000): UserRecord => ({ id: crypto.randomUUID(), email, passwordHash: '$argon2id$x', createdAt });

export function adminStoreContract(name: string, open: () => Promise<AdminContractSubject>): void {
  describe(`${name}: admin store contract`, () => {
    const withStores = (fn: (s: Stores) => Promise<void>) => async () => {
      const subject = await open();
      try {
        await fn(subject.stores);
      } finally {
        await subject.cleanup();
      }
    };

    it(
      'lists users in email order, a page at a time, with a keyset cursor',
      withStores(async (s) => {
        const emails = Array.from({ length: 7 }, (_, i) => `u${i}@example.com`).reverse();
        for (const e of emails) await s.users.createUser(user(e));
        const first = await s.users.listUsers({ limit: 3 });
        assert.deepEqual(first.map((u) => u.email), ['u0@example.com', 'u1@example.com', 'u2@example.com']);
        const second = await s.users.listUsers({ limit: 3, after: first.at(-1)!.email });
        assert.deepEqual(second.map((u) => u.email), ['u3@example.com', 'u4@example.com', 'u5@example.com']);
        const last = await s.users.listUsers({ limit: 3, after: second.at(-1)!.email });
        assert.deepEqual(last.map((u) => u.email), ['u6@example.com']);
        assert.deepEqual(await s.users.listUsers({ limit: 3, after: 'u6@example.com' }), []);
      }),
    );

    it(
      'searches by a literal part of the address: % and _ are not wildcards',
      withStores(async (s) => {
        for (const e of ['ada@example.com', 'a_b@example.com', 'axb@example.com', '100%@example.org']) await s.users.createUser(user(e));
        assert.deepEqual((await s.users.listUsers({ limit: 10, emailContains: 'a_b' })).map((u) => u.email), ['a_b@example.com']);
        assert.deepEqual((await s.users.listUsers({ limit: 10, emailContains: '%' })).map((u) => u.email), ['100%@example.org']);
        assert.deepEqual((await s.users.listUsers({ limit: 10, emailContains: 'example.org' })).map((u) => u.email), ['100%@example.org']);
        assert.equal((await s.users.listUsers({ limit: 10, emailContains: '@example.' })).length, 4);
        assert.deepEqual(await s.users.listUsers({ limit: 10, emailContains: 'nobody' }), []);
      }),
    );

    it(
      'disables and enables a user; the flag is read back everywhere the user is',
      withStores(async (s) => {
        const u = await s.users.createUser(user('d@example.com'));
        assert.equal((await s.users.findUserById(u.id))?.disabledAt ?? null, null, 'a new user is enabled');
        const d = await s.users.setUserDisabled(u.id, 5000);
        assert.equal(d?.disabledAt, 5000);
        assert.equal((await s.users.findUserByEmail('d@example.com'))?.disabledAt, 5000);
        assert.equal((await s.users.listUsers({ limit: 1 }))[0]?.disabledAt, 5000);
        assert.equal((await s.users.setUserDisabled(u.id, null))?.disabledAt ?? null, null);
        assert.equal(await s.users.setUserDisabled(crypto.randomUUID(), 1), null, 'unknown user');
      }),
    );

    it(
      'deletes a user; the address can be used again',
      withStores(async (s) => {
        const u = await s.users.createUser(user('gone@example.com'));
        assert.equal(await s.users.deleteUser(u.id), true);
        assert.equal(await s.users.deleteUser(u.id), false);
        assert.equal(await s.users.findUserById(u.id), null);
        const again = await s.users.createUser(user('gone@example.com'));
        assert.notEqual(again.id, u.id);
      }),
    );

    it(
      'stores admin keys by id with their hash only; revocation is first-wins',
      withStores(async (s) => {
        const a = newAdminKey('ops', 1000);
        const b = newAdminKey('ci', 2000);
        await s.adminKeys.createAdminKey(a.record);
        await s.adminKeys.createAdminKey(b.record);
        assert.deepEqual(await s.adminKeys.findAdminKey(a.record.id), a.record);
        assert.equal(await s.adminKeys.findAdminKey('nope'), null);
        assert.deepEqual((await s.adminKeys.listAdminKeys()).map((k) => k.name), ['ops', 'ci']);
        assert.equal(await s.adminKeys.revokeAdminKey(a.record.id, 3000), true);
        assert.equal(await s.adminKeys.revokeAdminKey(a.record.id, 4000), true);
        assert.equal((await s.adminKeys.findAdminKey(a.record.id))?.revokedAt, 3000, 'the first revocation stands');
        assert.equal(await s.adminKeys.revokeAdminKey('nope', 1), false);
        assert.ok(!JSON.stringify(await s.adminKeys.listAdminKeys()).includes(a.key.slice(-43)), 'no key in the store');
      }),
    );

    it(
      'lists MAC keys without inserting any',
      withStores(async (s) => {
        assert.deepEqual(await s.keys.listMacKeys(), []);
        await s.keys.ensureMacKeys({ id: 1, secret: Buffer.alloc(32, 7), createdAt: 10, activatesAt: 10 });
        const listed = await s.keys.listMacKeys();
        assert.equal(listed.length, 1);
        assert.ok(listed[0]!.secret.equals(Buffer.alloc(32, 7)));
      }),
    );
  });
}
