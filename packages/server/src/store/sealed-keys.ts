// The key store as the rest of the server sees it: plaintext key material in, plaintext out, and
// only ciphertext in the adapter underneath (SQLite file, PostgreSQL table), sealed under the
// key-encryption key with each value bound to its kid or MAC id (secrets/seal.ts). A dump of the
// store without the KEK holds no private key and no MAC secret (issue 12).
//
// Rows written before sealing existed (plaintext JWK, 32-byte secret) are sealed in place the
// first time they are read, by compare-and-set, so instances upgrading together cannot lose a
// key; until then they are used as they are, so live tokens keep verifying across the upgrade.
// Every write first reads (and so opens) every existing row: a KEK that cannot open them stops
// the start before anything new is created, rather than retiring the keys it cannot read.
import { isSealed, isSealedText, seal, sealText, UnsealError, unseal, unsealText } from '../secrets/seal.js';
import { SecretsKeyError } from '../secrets/key-encryption-key.js';
import type { KeyStore, MacKeyRecord, StoredSigningKey } from './types.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function sealedKeyStore(inner: KeyStore, kek: Buffer, kekSource: string): KeyStore {
  const cannotOpen = (what: string): never => {
    throw new SecretsKeyError(
      `${kekSource} cannot decrypt ${what}: it is not the key-encryption key the stored keys were sealed under, or the row was altered. ` +
        'Refusing to start (new keys would log everyone out); give the key they were sealed under.',
    );
  };
  const sealKey = (k: StoredSigningKey): StoredSigningKey => ({ ...k, privateJwk: sealText(kek, k.privateJwk, { purpose: 'signing-key', kid: k.kid }) });
  const sealMac = (m: MacKeyRecord): MacKeyRecord => ({ ...m, secret: seal(kek, m.secret, { purpose: 'mac-key', id: m.id }) });

  async function openKeys(stored: StoredSigningKey[]): Promise<StoredSigningKey[]> {
    const out: StoredSigningKey[] = [];
    for (const k of stored) {
      if (!isSealedText(k.privateJwk)) {
        await inner.replaceSigningKeyMaterial(k.kid, k.privateJwk, sealKey(k).privateJwk);
        out.push(k);
        continue;
      }
      try {
        out.push({ ...k, privateJwk: unsealText(kek, k.privateJwk, { purpose: 'signing-key', kid: k.kid }) });
      } catch (e) {
        if (e instanceof UnsealError) cannotOpen(`signing key ${k.kid} (created ${iso(k.createdAt)})`);
        throw e;
      }
    }
    return out;
  }

  async function openMacs(stored: MacKeyRecord[]): Promise<MacKeyRecord[]> {
    const out: MacKeyRecord[] = [];
    for (const m of stored) {
      if (!isSealed(m.secret)) {
        await inner.replaceMacSecret(m.id, m.secret, sealMac(m).secret);
        out.push(m);
        continue;
      }
      try {
        out.push({ ...m, secret: unseal(kek, m.secret, { purpose: 'mac-key', id: m.id }) });
      } catch (e) {
        if (e instanceof UnsealError) cannotOpen(`refresh MAC secret ${m.id} (created ${iso(m.createdAt)})`);
        throw e;
      }
    }
    return out;
  }

  const listSigningKeys = async () => openKeys(await inner.listSigningKeys());
  const listMacKeys = async () => openMacs(await inner.listMacKeys());

  return {
    listSigningKeys,
    listMacKeys,
    async ensureActiveSigningKey(alg, candidate, now) {
      await listSigningKeys();
      return openKeys(await inner.ensureActiveSigningKey(alg, () => sealKey(candidate()), now));
    },
    async rotateSigningKey(next, now, guard) {
      await listSigningKeys();
      const r = await inner.rotateSigningKey(sealKey(next), now, guard);
      return { rotated: r.rotated, keys: await openKeys(r.keys) };
    },
    async ensureMacKeys(candidate) {
      await listMacKeys();
      return openMacs(await inner.ensureMacKeys(sealMac(candidate)));
    },
    async rotateMacKey(candidate, now, dropBefore, guard) {
      await listMacKeys();
      const r = await inner.rotateMacKey((id) => sealMac(candidate(id)), now, dropBefore, guard);
      return { rotated: r.rotated, keys: await openMacs(r.keys) };
    },
    // Material replacement is the sealing step itself; nothing above this layer needs it.
    replaceSigningKeyMaterial: () => Promise.reject(new Error('replaceSigningKeyMaterial is internal to the sealed key store')),
    replaceMacSecret: () => Promise.reject(new Error('replaceMacSecret is internal to the sealed key store')),
  };
}
