// Stable, machine-readable reasons for every refusal a client or an API must tell apart. They
// travel as the `reason` member of the error body, beside the RFC 6749 §5.2 / RFC 6750 §3
// `error` code (both RFCs allow extra members), so that no client ever parses the English
// `error_description`, which may be reworded at any time. Adding a reason is compatible;
// renaming or removing one is a breaking change of the HTTP API.

export const REASONS = [
  // Token endpoint (`invalid_grant` and friends).
  /** An older refresh token of the session was replayed: the session was revoked as stolen. */
  'refresh_token_reused',
  /** The session reached its absolute lifetime or its idle timeout. */
  'session_expired',
  /** The session no longer exists: signed out, ended from another device, or revoked. */
  'session_ended',
  /** Not a refresh token this server issued (malformed, tampered, unknown key). */
  'refresh_token_invalid',
  /** The refresh token belongs to another client_id. */
  'client_mismatch',
  'grant_type_unsupported',
  // DPoP (RFC 9449, issue 11).
  /** A genuine refresh token of a key-bound session came with another key's proof, or none: a copy. The session was revoked. */
  'dpop_key_mismatch',
  /** The DPoP proof is malformed, badly signed, for another request, too old, from the future or replayed (`invalid_dpop_proof`). */
  'dpop_proof_invalid',
  /** LATCHKEY_DPOP=required and the request carried no DPoP proof (`invalid_dpop_proof`). */
  'dpop_proof_required',
  /** The proof lacks a current server nonce: retry with the `DPoP-Nonce` header's value (`use_dpop_nonce`, RFC 9449 §8). */
  'dpop_nonce_required',
  'client_unknown',
  // Sign-up and login.
  'credentials_invalid',
  'email_taken',
  'rate_limited',
  /** An operator disabled the account: sign-up with its address and login are refused until enabled. */
  'account_disabled',
  /** A browser request from an origin that is neither the server's own nor in LATCHKEY_CORS_ORIGINS. */
  'origin_not_allowed',
  // Address and password rules (ASVS 5.0 V6.2), `invalid_request` (400) at sign-up and wherever a
  // password or address is set; the description names the rule for people.
  /** The email holds an unpaired UTF-16 surrogate. */
  'email_unpaired_surrogate',
  /** The email holds a bidirectional control character (U+202E RLO and friends). */
  'email_bidi_control',
  /** The email holds an invisible character: zero-width space, soft hyphen, other format or control characters. */
  'email_invisible_character',
  /** One part of the email mixes look-alike alphabets (Latin with Cyrillic or Greek…). */
  'email_mixed_scripts',
  /** The password is among the 100,000 most common ones, or one repeated character. */
  'password_common',
  /** The password is the email address or its local part. */
  'password_matches_email',
  // Account lifecycle (issue 10).
  /** An emailed link's token is malformed, unknown, already used, superseded by a newer link, or expired. */
  'link_token_invalid',
  /** LATCHKEY_REQUIRE_VERIFIED_EMAIL is on and the account's address is not confirmed yet (said only after the password check). */
  'email_unverified',
  // Bearer routes and @latchkey/verify.
  /** No access token was sent (RFC 6750 §3.1). */
  'access_token_missing',
  /** The access token failed verification (signature, claims, time, client). */
  'access_token_invalid',
  /** A DPoP-bound access token came as Bearer, or without a valid proof by its key (RFC 9449 §7). */
  'access_token_bound',
  /** The access token's session was revoked: logout, ended session, refresh-token reuse. */
  'session_revoked',
  // The management listener's admin API.
  /** No admin API key, an unknown or revoked one. */
  'admin_key_invalid',
  // Anything.
  'request_invalid',
  'not_found',
  'method_not_allowed',
  'body_too_large',
  'content_type_unsupported',
  'headers_too_large',
  'request_timeout',
  /** The server's password-hashing queue is full (a sign-up or login storm): retry after Retry-After. */
  'busy',
  /** A backing store (or, for verifiers, the issuer's JWKS or the revocation feed) is unreachable: retry. */
  'unavailable',
  'internal_error',
] as const;

export type Reason = (typeof REASONS)[number];

const KNOWN: ReadonlySet<string> = new Set(REASONS);

export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && KNOWN.has(value);
}
