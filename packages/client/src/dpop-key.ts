/**
 * The DPoP proof key (RFC 9449 §2): created with WebCrypto as NON-EXTRACTABLE, so no script,
 * extension or XSS payload can read the private key out; it can only ask for signatures while it
 * runs in the page. A thief who copies the tokens cannot use them elsewhere.
 */
import { base64url } from './base64url.js';

export type DpopAlgorithm = 'ES256' | 'EdDSA';

/**
 * Where the proof key lives. Every client sharing a session's tokens must share its key store
 * too: a refresh signed by another key is treated by the server as a stolen copy.
 * `set` must keep a key that is already stored (first writer wins, e.g. IndexedDB `add`): two
 * tabs creating a key at once then both read back the winner, and the session ends up bound to
 * one key. Methods may be sync or async.
 */
export interface DpopKeyStore {
  get(): CryptoKeyPair | null | undefined | Promise<CryptoKeyPair | null | undefined>;
  set(pair: CryptoKeyPair): void | Promise<void>;
  delete(): void | Promise<void>;
}

/** A key and what every proof repeats about it. */
export interface ProofKey {
  privateKey: CryptoKey;
  alg: DpopAlgorithm;
  /** The public key's members only (no `ext`, `key_ops`): what goes in the proof header. */
  jwk: JsonWebKey;
  /** RFC 7638 thumbprint: what the server binds the session to (`cnf.jkt`, RFC 9449 §6.1). */
  jkt: string;
}

/** Keys held by this JavaScript realm only; lost when the process or page goes away. */
export function memoryKeyStore(): DpopKeyStore {
  let pair: CryptoKeyPair | null = null;
  return {
    get: () => pair,
    set(next) {
      pair ??= next;
    },
    delete() {
      pair = null;
    },
  };
}

/**
 * Node's default: one key per process, so several clients sharing a token storage (as tabs
 * share localStorage) also share the key their session is bound to.
 */
export const processKeyStore: DpopKeyStore = memoryKeyStore();

const OBJECT_STORE = 'keys';

/**
 * The browser default: IndexedDB, one database per origin, so every tab of the app signs with the
 * same key. CryptoKey objects are structured-cloneable, so the non-extractable key is stored as
 * the opaque object it is; its bytes are never exposed to script.
 */
export function indexedDbKeyStore(options: { database?: string; key?: string } = {}): DpopKeyStore {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (idb === undefined) throw new TypeError('indexedDbKeyStore: indexedDB is not available here');
  const database = options.database ?? 'latchkey-dpop';
  const entry = options.key ?? 'proof-key';
  let opening: Promise<IDBDatabase> | undefined;

  const open = (): Promise<IDBDatabase> =>
    (opening ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = idb.open(database, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(OBJECT_STORE)) req.result.createObjectStore(OBJECT_STORE);
      };
      req.onsuccess = () => {
        const db = req.result;
        // Another tab deleting the database (site data cleared) must not be blocked by us.
        db.onversionchange = () => {
          db.close();
          opening = undefined;
        };
        resolve(db);
      };
      req.onerror = () => {
        opening = undefined;
        reject(req.error ?? new Error('indexedDB open failed'));
      };
      req.onblocked = () => {
        opening = undefined;
        reject(new Error('indexedDB open blocked'));
      };
    }));

  const run = async <T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>, onError?: (e: Event) => boolean): Promise<T | undefined> => {
    const db = await open();
    return new Promise<T | undefined>((resolve, reject) => {
      const tx = db.transaction(OBJECT_STORE, mode);
      const req = work(tx.objectStore(OBJECT_STORE));
      let result: T | undefined;
      req.onsuccess = () => {
        result = req.result;
      };
      req.onerror = (event) => {
        if (onError?.(event)) {
          // Handled: keep the transaction from aborting on our account.
          event.preventDefault();
          event.stopPropagation();
        }
      };
      tx.oncomplete = () => resolve(result);
      tx.onabort = () => reject(tx.error ?? new Error('indexedDB transaction aborted'));
    });
  };

  return {
    async get() {
      return toKeyPair(await run('readonly', (s) => s.get(entry)));
    },
    async set(pair) {
      // `add` fails with ConstraintError when another tab stored its key first: theirs stays.
      await run('readwrite', (s) => s.add({ privateKey: pair.privateKey, publicKey: pair.publicKey }, entry), (e) => {
        return (e.target as IDBRequest).error?.name === 'ConstraintError';
      });
    },
    async delete() {
      await run('readwrite', (s) => s.delete(entry));
    },
  };
}

/** Anything but a pair of CryptoKeys reads as "no key". */
export function toKeyPair(value: unknown): CryptoKeyPair | null {
  if (typeof value !== 'object' || value === null || typeof CryptoKey === 'undefined') return null;
  const { privateKey, publicKey } = value as Partial<CryptoKeyPair>;
  return privateKey instanceof CryptoKey && publicKey instanceof CryptoKey ? { privateKey, publicKey } : null;
}

export function defaultKeyStore(): DpopKeyStore {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  return idb === undefined ? processKeyStore : indexedDbKeyStore();
}

/** ES256 unless EdDSA is asked for and the runtime has Ed25519 in WebCrypto (checked by trying). */
export async function generateProofKeyPair(subtle: SubtleCrypto, algorithm: DpopAlgorithm): Promise<CryptoKeyPair> {
  if (algorithm === 'EdDSA') {
    try {
      return (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    } catch {
      // Not supported here: P-256 is in every WebCrypto.
    }
  }
  return subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

const described = new WeakMap<CryptoKey, Promise<ProofKey | null>>();

/** The pair as a proof key, or null for a pair we cannot sign proofs with. Public keys are always exportable. */
export function describeKey(subtle: SubtleCrypto, pair: CryptoKeyPair): Promise<ProofKey | null> {
  let found = described.get(pair.privateKey);
  if (found === undefined) {
    found = (async () => {
      const name = pair.privateKey.algorithm.name;
      const alg: DpopAlgorithm | undefined = name === 'ECDSA' ? 'ES256' : name === 'Ed25519' ? 'EdDSA' : undefined;
      if (alg === undefined) return null;
      if (alg === 'ES256' && (pair.privateKey.algorithm as EcKeyAlgorithm).namedCurve !== 'P-256') return null;
      try {
        const full = await subtle.exportKey('jwk', pair.publicKey);
        const jwk: JsonWebKey = alg === 'ES256' ? { kty: 'EC', crv: 'P-256', x: full.x!, y: full.y! } : { kty: 'OKP', crv: 'Ed25519', x: full.x! };
        return { privateKey: pair.privateKey, alg, jwk, jkt: await jwkThumbprint(subtle, jwk) };
      } catch {
        return null;
      }
    })();
    described.set(pair.privateKey, found);
  }
  return found;
}

/** RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace. */
export async function jwkThumbprint(subtle: SubtleCrypto, jwk: JsonWebKey): Promise<string> {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return base64url(await subtle.digest('SHA-256', new TextEncoder().encode(canonical)));
}
