/**
 * `latchkey/client`: browser and Node 20 client for a Latchkey server. Uses only `fetch`
 * and web-standard globals, no Node built-ins, no dependencies.
 */
export { createClient, type ClientOptions, type LatchkeyClient } from './client.js';
export { LatchkeyError, isLatchkeyError, type LatchkeyErrorCode, type LatchkeyErrorKind } from './errors.js';
export type { ClientEvents, SignedOutReason, Unsubscribe } from './events.js';
export type { DpopOptions } from './dpop.js';
export { indexedDbKeyStore, memoryKeyStore, type DpopAlgorithm, type DpopKeyStore } from './dpop-key.js';
export type { FetchLike } from './http.js';
export { DEFAULT_RENEWAL_FRACTION, DEFAULT_RENEWAL_MARGIN_MS } from './renewal.js';
export type { SessionInfo, User } from './resources.js';
export {
  localStorageStorage,
  memoryStorage,
  signedOutReasonOf,
  toStoredTokens,
  type SignedOutMarker,
  type StoredTokens,
  type StoredValue,
  type TokenStorage,
} from './storage.js';
