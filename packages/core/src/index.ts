// @latchkey/core: what the Latchkey server and @latchkey/verify must agree on, written once.
// No dependencies beyond Node's built-ins. Internal to Latchkey's packages: its API follows
// theirs and may change with any of their releases.
export * from './jwt/access-token.js';
export * from './jwt/algorithms.js';
export * from './jwt/base64url.js';
export * from './jwt/strict-json.js';
export * from './jwt/thumbprint.js';
export { Lru } from './jwt/lru.js';
export { VerifiedTokenCache } from './verified-tokens.js';
export * from './revocation/types.js';
export { mergeTheft, isTheft } from './revocation/theft.js';
export { RevocationSet, RevocationFollower } from './revocation/revocation-set.js';
export { feedSubscriptions, type ChannelFollower, type FeedSubscriptions } from './revocation/feed-subscriptions.js';
export * from './redis/connection-options.js';
export * from './redis/revocation-protocol.js';
export * from './reasons.js';
export * from './redis/lifecycle.js';
export * from './dpop/index.js';
