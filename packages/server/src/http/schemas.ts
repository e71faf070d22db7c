// JSON schemas for every body, query and param, and for every answer. Types are never coerced (the
// app's Ajv runs with coerceTypes off), so `{"password":["a"]}` or `{"email":{"$ne":null}}` is a
// 400, not a lookup.
import { REASONS, type Reason } from '@latchkey/core';
import type { ErrorCode } from '../domain/errors.js';

const clientId = { type: 'string', minLength: 1, maxLength: 64 } as const;
// No control characters: an address never has one, and PostgreSQL refuses NUL in text outright
// (an error there would be a 5xx for what is bad input).
const NO_CONTROL = '^[^\\u0000-\\u001F\\u007F]*$';
const email = { type: 'string', minLength: 3, maxLength: 254, pattern: NO_CONTROL } as const;

export const signupBody = {
  type: 'object',
  required: ['email', 'password'],
  properties: {
    email,
    // Counted in characters as typed; never truncated or normalised (ASVS 5.0 V6.2.x).
    password: { type: 'string', minLength: 8, maxLength: 1024 },
    client_id: clientId,
  },
} as const;

export const loginBody = {
  type: 'object',
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 254, pattern: NO_CONTROL },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    client_id: clientId,
  },
} as const;

export const tokenBody = {
  type: 'object',
  required: ['grant_type'],
  properties: {
    grant_type: { type: 'string', minLength: 1, maxLength: 64 },
    // Room for an access token sent here by mistake (even RS256 with every claim), so that it is
    // answered invalid_grant like any token that is not a refresh token; a real one is ~100 characters.
    refresh_token: { type: 'string', minLength: 1, maxLength: 1024 },
    client_id: clientId,
    scope: { type: 'string', maxLength: 1024 },
  },
} as const;

export const revokeBody = {
  type: 'object',
  required: ['token'],
  properties: {
    token: { type: 'string', minLength: 1, maxLength: 8192 },
    token_type_hint: { type: 'string', maxLength: 64 },
    client_id: clientId,
  },
} as const;

export const sessionParams = {
  type: 'object',
  required: ['id'],
  // Session ids are base64url; anything else cannot name one and never reaches the store.
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
} as const;

export const endAllQuery = {
  type: 'object',
  properties: { others: { type: 'string', enum: ['true', 'false'] } },
  additionalProperties: false,
} as const;

// `properties: {}` changes nothing for validation; without it @fastify/swagger lists the schema's
// own keywords (type, maxProperties…) as query parameters.
export const noQuery = { type: 'object', properties: {}, additionalProperties: false, maxProperties: 0 } as const;

/** GET /auth/sessions paging (auth/sessions.ts sessionPageQuery checks the values: 400 invalid_request). */
export const sessionsQuery = {
  type: 'object',
  properties: {
    limit: { type: 'string', maxLength: 8, description: 'Page size, 1 to 1000 (default 100).' },
    cursor: { type: 'string', maxLength: 64, description: 'The `next_cursor` of the previous page.' },
  },
  additionalProperties: false,
} as const;

// ---------------------------------------------------------------------------------------------
// Answers. These schemas document the responses (the OpenAPI document at /openapi.json is built
// from them); they do not serialize them (see openapi.ts). test/http/openapi.test.ts drives a real
// server into every status listed here and validates what it really sent against them.

/** Every `error` code the server sends: RFC 6749 §5.2 and RFC 6750 §3, plus Latchkey's own. */
export const ERROR_CODES = [
  'invalid_request',
  'invalid_grant',
  'invalid_client',
  'unsupported_grant_type',
  'invalid_token',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'invalid_credentials',
  'email_taken',
  'not_found',
  'rate_limited',
  'access_denied',
  'temporarily_unavailable',
  'server_error',
] as const satisfies readonly ErrorCode[];
// Fails to compile when ErrorCode gains a code that the document would not list.
export const ERROR_CODES_COMPLETE: Exclude<ErrorCode, (typeof ERROR_CODES)[number]> extends never ? true : never = true;

const timestamp = { type: 'string', format: 'date-time' } as const;
const uri = { type: 'string', format: 'uri' } as const;
const ALGS = ['EdDSA', 'ES256', 'RS256'] as const;

// auth/issue-tokens.ts: TokenResponse.
const TOKEN_PROPERTIES = {
  access_token: {
    type: 'string',
    description:
      'JWT (RFC 9068 claims plus `sid`). A DPoP-bound session\'s tokens carry `cnf.jkt` and are sent as `Authorization: DPoP` with a proof (RFC 9449 §7); others as `Authorization: Bearer`.',
  },
  token_type: { type: 'string', enum: ['Bearer', 'DPoP'], description: '`DPoP` when the session is bound to the key of the request\'s DPoP proof (RFC 9449 §5).' },
  expires_in: { type: 'integer', minimum: 1, description: 'Access token lifetime in seconds (LATCHKEY_ACCESS_TTL).' },
  refresh_token: { type: 'string', description: 'Opaque and single-use: each refresh answers with its successor.' },
  refresh_expires_in: {
    type: 'integer',
    minimum: 0,
    description: 'Seconds until the session ends unless used again: the earlier of LATCHKEY_SESSION_TTL from sign-in and LATCHKEY_SESSION_IDLE from now.',
  },
} as const;
const TOKEN_REQUIRED = ['access_token', 'token_type', 'expires_in', 'refresh_token'] as const;

// Shared schemas, added with app.addSchema: @fastify/swagger lists each as components.schemas.<$id>
// and routes refer to them as `<$id>#`.
export const sharedSchemas = [
  {
    $id: 'ErrorBody',
    type: 'object',
    description:
      'The one error body. `error` is the RFC 6749 §5.2 / RFC 6750 §3 code (a Latchkey code where no RFC applies); `reason` is the stable, ' +
      'machine-readable reason clients decide on (adding one is compatible, renaming or removing one is not); `error_description` is for people ' +
      'and may be reworded at any time.',
    required: ['error', 'error_description', 'reason'],
    properties: {
      error: { type: 'string', enum: ERROR_CODES },
      error_description: { type: 'string' },
      reason: { type: 'string', enum: REASONS },
    },
  },
  { $id: 'TokenResponse', type: 'object', description: 'RFC 6749 §5.1 token response.', required: TOKEN_REQUIRED, properties: TOKEN_PROPERTIES },
  {
    $id: 'User',
    type: 'object',
    required: ['id', 'email', 'createdAt', 'email_verified'],
    properties: {
      id: { type: 'string' },
      email: { type: 'string', description: 'Normalised: trimmed, NFC, lower-cased, the domain in its ASCII (IDNA) form.' },
      createdAt: timestamp,
      email_verified: { type: 'boolean', description: 'Whether the address was confirmed by the link sent to it (also the access token’s `email_verified` claim).' },
    },
  },
  {
    $id: 'Session',
    type: 'object',
    required: ['id', 'createdAt', 'lastUsedAt', 'device', 'current', 'keyBound'],
    properties: {
      id: { type: 'string', description: 'Names the session in DELETE /auth/sessions/{id}.' },
      createdAt: timestamp,
      lastUsedAt: {
        ...timestamp,
        description: 'To the minute; for the calling session, the current minute (it is in use). Finer times would tell a thief when the session rotated.',
      },
      keyBound: { type: 'boolean', description: 'Whether the session is bound to a DPoP key (RFC 9449): its refresh token is useless without that key.' },
      device: { type: 'string', description: 'A short label derived from the User-Agent, e.g. "Firefox 130 on Windows".' },
      current: { type: 'boolean', description: 'Whether this is the session of the access token used.' },
    },
  },
  {
    $id: 'JwkSet',
    type: 'object',
    description: 'RFC 7517 JWK Set: the public keys access tokens are signed with (more than one while keys rotate); never a private member.',
    required: ['keys'],
    properties: {
      keys: {
        type: 'array',
        items: {
          type: 'object',
          required: ['kty', 'kid', 'alg', 'use'],
          properties: {
            kty: { type: 'string', enum: ['OKP', 'EC', 'RSA'] },
            crv: { type: 'string', enum: ['Ed25519', 'P-256'], description: 'OKP and EC keys.' },
            x: { type: 'string', description: 'OKP and EC keys.' },
            y: { type: 'string', description: 'EC keys.' },
            n: { type: 'string', description: 'RSA keys.' },
            e: { type: 'string', description: 'RSA keys.' },
            kid: { type: 'string' },
            alg: { type: 'string', enum: ALGS },
            use: { type: 'string', enum: ['sig'] },
          },
        },
      },
    },
  },
  {
    $id: 'ServerMetadata',
    type: 'object',
    description: 'RFC 8414 §2 authorization server metadata, plus Latchkey’s own endpoints for client libraries.',
    required: [
      'issuer',
      'token_endpoint',
      'revocation_endpoint',
      'jwks_uri',
      'grant_types_supported',
      'response_types_supported',
      'token_endpoint_auth_methods_supported',
      'revocation_endpoint_auth_methods_supported',
      'login_endpoint',
      'signup_endpoint',
      'sessions_endpoint',
      'access_token_signing_alg_values_supported',
    ],
    properties: {
      issuer: { type: 'string', description: 'LATCHKEY_ISSUER: the `iss` of every access token.' },
      token_endpoint: uri,
      revocation_endpoint: uri,
      jwks_uri: uri,
      grant_types_supported: { type: 'array', items: { type: 'string', enum: ['refresh_token'] } },
      response_types_supported: { type: 'array', maxItems: 0, description: 'None: there is no authorization endpoint.' },
      token_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string', enum: ['none'] } },
      revocation_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string', enum: ['none'] } },
      login_endpoint: uri,
      signup_endpoint: uri,
      sessions_endpoint: uri,
      access_token_signing_alg_values_supported: { type: 'array', items: { type: 'string', enum: ALGS } },
      dpop_signing_alg_values_supported: {
        type: 'array',
        items: { type: 'string' },
        description: 'RFC 9449 §5.1: the algorithms DPoP proofs may use. Absent when LATCHKEY_DPOP=off.',
      },
    },
  },
  {
    $id: 'Health',
    type: 'object',
    required: ['status', 'checks'],
    properties: {
      status: { type: 'string', enum: ['ok', 'degraded'] },
      checks: {
        type: 'object',
        description: 'One member per backing store in use: sqlite, redis, postgres.',
        additionalProperties: { type: 'string', enum: ['ok', 'down'] },
      },
    },
  },
] as const;

type SchemaId = (typeof sharedSchemas)[number]['$id'];
const ref = (id: SchemaId) => ({ $ref: `${id}#` }) as const;

interface Header {
  type: 'string';
  description: string;
  enum?: readonly string[];
  pattern?: string;
}
// Every header documented here is sent on every answer of its status: openapi.ts marks them all
// required, and the coverage test checks that they are there and match.
const NO_STORE: Record<string, Header> = {
  'Cache-Control': { type: 'string', enum: ['no-store'], description: 'RFC 6749 §5.1: tokens and user data are never cached.' },
  Pragma: { type: 'string', enum: ['no-cache'], description: 'The same, for HTTP/1.0 caches.' },
};
const publicFor = (sec: number): Record<string, Header> => ({
  'Cache-Control': { type: 'string', enum: [`public, max-age=${sec}`], description: `Cacheable for ${sec} s.` },
});
const BEARER_CHALLENGE: Record<string, Header> = {
  'WWW-Authenticate': {
    type: 'string',
    pattern:
      '^(Bearer realm="latchkey"(, error="invalid_token", error_description="[^"]*")?(, DPoP algs="[^"]*")?|DPoP error="(invalid_token|invalid_dpop_proof)", error_description="[^"]*", algs="[^"]*")$',
    description:
      'RFC 6750 §3: a bare challenge when no token was sent (§3.1: Bearer and, unless LATCHKEY_DPOP=off, DPoP), error="invalid_token" otherwise; ' +
      'RFC 9449 §7.1: the DPoP challenge where a DPoP-bound token, or a token sent with the DPoP scheme, was refused.',
  },
};
const RETRY_AFTER: Record<string, Header> = {
  'Retry-After': { type: 'string', pattern: '^[0-9]+$', description: 'Seconds to wait before trying again.' },
};

// @fastify/swagger takes a response's description from `x-response-description` (a plain
// `description` would be copied into the body schema too), except beside a `$ref`, which it
// replaces by the target, so there only a plain `description` survives.
function answer(description: string, schema: object, headers?: Record<string, Header>) {
  const key = '$ref' in schema ? 'description' : 'x-response-description';
  return { [key]: description, ...(headers ? { headers } : {}), ...schema };
}
const noContent = (description: string) => ({ 'x-response-description': description, type: 'null' }) as const;

/** A refusal: the shared error body, narrowed to the codes and reasons this status carries on this route. */
function refusal(description: string, pairs: ReadonlyArray<readonly [ErrorCode, Reason]>, headers?: Record<string, Header>) {
  const error = [...new Set(pairs.map(([c]) => c))];
  const reason = [...new Set(pairs.map(([, r]) => r))];
  return answer(description, { allOf: [ref('ErrorBody'), { properties: { error: { enum: error }, reason: { enum: reason } } }] }, headers);
}

const REQUEST_INVALID = ['invalid_request', 'request_invalid'] as const;
/** RFC 9449 at the endpoints that take a DPoP proof (auth/dpop.ts). */
const DPOP_REFUSED = [
  ['invalid_dpop_proof', 'dpop_proof_invalid'],
  ['use_dpop_nonce', 'dpop_nonce_required'],
] as const;
const DPOP_TEXT =
  'a DPoP proof that is invalid, for another request, too old, from the future or replayed (invalid_dpop_proof, dpop_proof_invalid), or ' +
  'without the current server nonce (use_dpop_nonce, dpop_nonce_required: retry with the DPoP-Nonce header this answer carries, RFC 9449 §8)';
const CLIENT_UNKNOWN = ['invalid_client', 'client_unknown'] as const;
/** A new address or password refused by a rule (domain/email-address.ts, domain/password-policy.ts). */
const POLICY_REFUSALS = [
  ['invalid_request', 'email_invisible_character'],
  ['invalid_request', 'email_bidi_control'],
  ['invalid_request', 'email_unpaired_surrogate'],
  ['invalid_request', 'email_mixed_scripts'],
  ['invalid_request', 'password_common'],
  ['invalid_request', 'password_matches_email'],
] as const;
const POLICY_TEXT =
  'a refused address (email_invisible_character, email_bidi_control, email_unpaired_surrogate, email_mixed_scripts) or password ' +
  '(password_common: among the 100,000 most common or one repeated character; password_matches_email)';

/** Refused before the handler runs, on any route that parses a body (every POST and DELETE, asked for or not). */
const bodyRefusals = {
  413: refusal('The body is over LATCHKEY_BODY_LIMIT.', [['invalid_request', 'body_too_large']]),
  415: refusal('The body is neither application/json nor application/x-www-form-urlencoded.', [['invalid_request', 'content_type_unsupported']]),
};
const internal = { 500: refusal('An internal error (logged); never the answer to bad input.', [['server_error', 'internal_error']]) };
const storeDown = { 503: refusal('A backing store is unreachable: retry after Retry-After.', [['temporarily_unavailable', 'unavailable']], RETRY_AFTER) };
/** Sign-up and login also answer 503 when the password-hashing queue is full (issue 12 item 3). */
const storeDownOrBusy = {
  503: refusal(
    'A backing store is unreachable (unavailable), or the password-hashing queue is full (busy): retry after Retry-After.',
    [
      ['temporarily_unavailable', 'unavailable'],
      ['temporarily_unavailable', 'busy'],
    ],
    RETRY_AFTER,
  ),
};
const bearerRefused = {
  401: refusal(
    'No access token (access_token_missing), an invalid or expired one (access_token_invalid), or one whose session has ended (session_revoked). ' +
      'RFC 9449 §7: a DPoP-bound token sent as Bearer, or an unbound one with the DPoP scheme (access_token_bound); a DPoP proof that is missing, ' +
      'invalid, for another request or token, by another key or replayed (dpop_proof_invalid).',
    [
      ['invalid_token', 'access_token_missing'],
      ['invalid_token', 'access_token_invalid'],
      ['invalid_token', 'session_revoked'],
      ['invalid_token', 'access_token_bound'],
      ['invalid_dpop_proof', 'dpop_proof_invalid'],
    ],
    BEARER_CHALLENGE,
  ),
};
const unparsable = (what: string) => ({ 400: refusal(what, [REQUEST_INVALID]) });
const ORIGIN_REFUSED = ['access_denied', 'origin_not_allowed'] as const;
const FOREIGN_ORIGIN = 'a browser request from an origin that is neither this server’s nor in LATCHKEY_CORS_ORIGINS (origin_not_allowed)';
/** Every /auth/ route refuses a foreign Origin before anything else (http/origins.ts). */
const originRefused = { 403: refusal(`Refused: ${FOREIGN_ORIGIN}.`, [ORIGIN_REFUSED]) };
/** What every /auth/ route without a 403 of its own can also answer. */
const accountRouteFailures = { ...originRefused, ...internal, ...storeDown };

export const signupResponses = {
  201: answer(
    'The account and its first session: the user and a token response.',
    {
      type: 'object',
      required: ['user', ...TOKEN_REQUIRED],
      properties: { user: ref('User'), ...TOKEN_PROPERTIES },
    },
    NO_STORE,
  ),
  202: answer(
    'LATCHKEY_REQUIRE_VERIFIED_EMAIL is on: the account exists and a verification link was sent; log in once the address is confirmed.',
    { type: 'object', required: ['user'], properties: { user: ref('User') } },
    NO_STORE,
  ),
  400: refusal(
    `Invalid parameters (request_invalid, also for an address that cannot be one), ${POLICY_TEXT}, an unknown client_id (client_unknown), ${DPOP_TEXT}, ` +
      'or no DPoP proof while LATCHKEY_DPOP=required (dpop_proof_required).',
    [REQUEST_INVALID, ...POLICY_REFUSALS, CLIENT_UNKNOWN, ...DPOP_REFUSED, ['invalid_dpop_proof', 'dpop_proof_required']],
  ),
  403: refusal(`The address belongs to an account an operator has disabled (account_disabled), or ${FOREIGN_ORIGIN}.`, [['access_denied', 'account_disabled'], ORIGIN_REFUSED]),
  409: refusal('An account with this email already exists, whatever its case.', [['email_taken', 'email_taken']]),
  ...bodyRefusals,
  429: refusal('Too many sign-ups from this source (LATCHKEY_SIGNUP_IP_LIMIT) or in all (LATCHKEY_SIGNUP_LIMIT).', [['rate_limited', 'rate_limited']], RETRY_AFTER),
  ...internal,
  ...storeDownOrBusy,
} as const;

export const loginResponses = {
  200: answer('A new session.', ref('TokenResponse'), NO_STORE),
  400: refusal(
    `Invalid parameters (request_invalid), an unknown client_id (client_unknown), ${DPOP_TEXT}, or no DPoP proof while LATCHKEY_DPOP=required (dpop_proof_required).`,
    [REQUEST_INVALID, CLIENT_UNKNOWN, ...DPOP_REFUSED, ['invalid_dpop_proof', 'dpop_proof_required']],
  ),
  401: refusal('Wrong email or password; an unknown email answers exactly the same.', [['invalid_credentials', 'credentials_invalid']]),
  403: refusal(
    `The password is right but an operator has disabled the account (account_disabled), or LATCHKEY_REQUIRE_VERIFIED_EMAIL is on and the address is not confirmed yet (email_unverified); both said only after the password check; or ${FOREIGN_ORIGIN}.`,
    [['access_denied', 'account_disabled'], ['access_denied', 'email_unverified'], ORIGIN_REFUSED],
  ),
  ...bodyRefusals,
  429: refusal(
    'Too many failed attempts for this account or from this source, or too many successful logins to this account (LATCHKEY_LOGIN_SUCCESS_LIMIT).',
    [['rate_limited', 'rate_limited']],
    RETRY_AFTER,
  ),
  ...internal,
  ...storeDownOrBusy,
} as const;

export const tokenResponses = {
  200: answer('Rotated: a new access token and the successor refresh token.', ref('TokenResponse'), NO_STORE),
  400: refusal(
    'RFC 6749 §5.2. invalid_grant: not a refresh token this server issued (refresh_token_invalid); an older token of the session was replayed, ' +
      'so the session is revoked (refresh_token_reused, also for every later attempt with that session’s tokens); the session expired ' +
      '(session_expired) or ended (session_ended); the token was issued to another client (client_mismatch); the session is bound to a DPoP key ' +
      'and the token came with another key’s proof or none, so the session is revoked as a copy (dpop_key_mismatch, also for every later attempt with that session’s tokens, with the key or not). invalid_client: unknown client_id. ' +
      `unsupported_grant_type: anything but refresh_token. invalid_request: a parameter missing, invalid or repeated. Also ${DPOP_TEXT}.`,
    [
      ['invalid_grant', 'dpop_key_mismatch'],
      ...DPOP_REFUSED,
      ['invalid_grant', 'refresh_token_invalid'],
      ['invalid_grant', 'refresh_token_reused'],
      ['invalid_grant', 'session_expired'],
      ['invalid_grant', 'session_ended'],
      ['invalid_grant', 'client_mismatch'],
      CLIENT_UNKNOWN,
      ['unsupported_grant_type', 'grant_type_unsupported'],
      REQUEST_INVALID,
    ],
  ),
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

export const revokeResponses = {
  200: answer('RFC 7009 §2.2: the same answer whether the token was genuine, unknown, malformed or another client’s.', {
    type: 'object',
    properties: {},
    additionalProperties: false,
  }),
  400: refusal('No token (request_invalid) or an unknown client_id (client_unknown).', [REQUEST_INVALID, CLIENT_UNKNOWN]),
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

export const logoutResponses = {
  204: noContent('The caller’s session has ended: its access and refresh tokens are refused from now on.'),
  ...unparsable('A body that cannot be parsed (none is needed).'),
  ...bearerRefused,
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

export const meResponses = {
  200: answer('The caller’s user record.', { type: 'object', required: ['user'], properties: { user: ref('User') } }, NO_STORE),
  ...unparsable('A query string (none is accepted).'),
  ...bearerRefused,
  ...accountRouteFailures,
} as const;

export const sessionsResponses = {
  200: answer(
    'One page of the caller’s live sessions, oldest first; `next_cursor` fetches the next (null on the last page).',
    {
      type: 'object',
      required: ['sessions', 'next_cursor'],
      properties: { sessions: { type: 'array', items: ref('Session') }, next_cursor: { type: ['string', 'null'] } },
    },
    NO_STORE,
  ),
  ...unparsable('A `limit` outside 1 to 1000, a `cursor` this server did not return, or another query parameter.'),
  ...bearerRefused,
  ...accountRouteFailures,
} as const;

export const endSessionResponses = {
  204: noContent('The session has ended.'),
  ...unparsable('An id that cannot name a session, or a body that cannot be parsed.'),
  ...bearerRefused,
  404: refusal('None of the caller’s sessions has this id: another user’s session answers the same as an unknown id.', [['not_found', 'not_found']]),
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

export const endAllSessionsResponses = {
  204: noContent('The sessions have ended.'),
  ...unparsable('`others` other than true or false, or given twice; another query parameter; a body that cannot be parsed.'),
  ...bearerRefused,
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

export const jwksResponses = {
  200: answer('The public keys.', ref('JwkSet'), publicFor(60)),
  ...internal,
} as const;

export const metadataResponses = {
  200: answer('The metadata.', ref('ServerMetadata'), publicFor(300)),
  ...internal,
} as const;

export const healthResponses = {
  200: answer('Every backing store answered.', ref('Health')),
  503: answer('A backing store did not answer (within 1.5 s); `checks` names it.', ref('Health')),
  ...internal,
} as const;

export const openApiResponses = {
  200: answer(
    'This document.',
    {
      type: 'object',
      required: ['openapi', 'info', 'paths'],
      properties: { openapi: { type: 'string', enum: ['3.1.0'] } },
      additionalProperties: true,
    },
    { 'Cache-Control': { type: 'string', enum: ['no-cache'], description: 'Revalidate: the document changes with the server version.' } },
  ),
  ...internal,
} as const;

// ---------------------------------------------------------------------------------------------
// Account lifecycle (issue 10).

/** A token of an emailed link: 256 bits in base64url. */
const linkToken = { type: 'string', minLength: 1, maxLength: 512 } as const;
const LINK_REFUSED = ['invalid_token', 'link_token_invalid'] as const;

export const verifyEmailBody = {
  type: 'object',
  required: ['token'],
  properties: { token: linkToken },
} as const;

export const verifyEmailResponses = {
  204: noContent('The address is confirmed (the `token` of the emailed link was used up); for an address change, the account has moved to the new address.'),
  409: refusal('An address change lost: another account has taken the new address meanwhile.', [['email_taken', 'email_taken']]),
  400: refusal('The token is malformed, unknown, already used, superseded by a newer link, or expired (link_token_invalid); or a parameter is missing (request_invalid).', [
    LINK_REFUSED,
    REQUEST_INVALID,
  ]),
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

export const resendVerificationResponses = {
  202: answer('A new verification link is on its way (the older one is dead); nothing is sent when the address is already confirmed.', {
    type: 'object',
    properties: {},
    additionalProperties: false,
  }),
  ...unparsable('A body that cannot be parsed (none is needed).'),
  ...bearerRefused,
  ...bodyRefusals,
  429: refusal('More than 5 links asked for in an hour.', [['rate_limited', 'rate_limited']], RETRY_AFTER),
  ...accountRouteFailures,
} as const;

export const forgotPasswordBody = {
  type: 'object',
  required: ['email'],
  properties: { email: { type: 'string', minLength: 1, maxLength: 254, pattern: NO_CONTROL } },
} as const;

export const forgotPasswordResponses = {
  202: answer(
    'Always, whether or not an account has this address (same status, body, headers and timing): if one has, a reset link (30 minutes, single use) is on its way.',
    { type: 'object', properties: {}, additionalProperties: false },
  ),
  ...unparsable('A parameter is missing or invalid (the same for every address).'),
  ...bodyRefusals,
  429: refusal('More than 20 requests from this source in an hour.', [['rate_limited', 'rate_limited']], RETRY_AFTER),
  ...accountRouteFailures,
} as const;

export const resetPasswordBody = {
  type: 'object',
  required: ['token', 'password'],
  properties: { token: linkToken, password: { type: 'string', minLength: 8, maxLength: 1024 } },
} as const;

export const resetPasswordResponses = {
  204: noContent('The password is set; every session of the account has ended (their access tokens are refused at once) and a notice went to the address.'),
  400: refusal(
    'The token is malformed, unknown, used, superseded by a newer link, or expired (link_token_invalid); the new password is refused by a rule (password_common, password_matches_email; the link stays usable); or a parameter is missing (request_invalid).',
    [LINK_REFUSED, ['invalid_request', 'password_common'], ['invalid_request', 'password_matches_email'], REQUEST_INVALID],
  ),
  ...bodyRefusals,
  ...accountRouteFailures,
} as const;

const newPassword = { type: 'string', minLength: 8, maxLength: 1024 } as const;
const currentPassword = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const WRONG_PASSWORD = ['invalid_credentials', 'credentials_invalid'] as const;
/** Bearer routes that ask for the password again. */
const passwordRouteFailures = {
  ...bearerRefused,
  ...bodyRefusals,
  403: refusal(
    `The password is incorrect (credentials_invalid: 403, not 401, since the access token is fine; it counts toward the login throttle), or ${FOREIGN_ORIGIN}.`,
    [WRONG_PASSWORD, ORIGIN_REFUSED],
  ),
  429: refusal('Too many wrong passwords for this account (the login throttle).', [['rate_limited', 'rate_limited']], RETRY_AFTER),
  ...internal,
  ...storeDown,
};

export const changePasswordBody = {
  type: 'object',
  required: ['current_password', 'new_password'],
  properties: { current_password: currentPassword, new_password: newPassword },
} as const;

export const changePasswordResponses = {
  204: noContent('The password is changed; every other session has ended (the caller’s stays); reset links died; a notice went to the address.'),
  400: refusal('The new password is refused by a rule (password_common, password_matches_email), or a parameter is missing or invalid (request_invalid).', [
    ['invalid_request', 'password_common'],
    ['invalid_request', 'password_matches_email'],
    REQUEST_INVALID,
  ]),
  ...passwordRouteFailures,
} as const;

export const changeEmailBody = {
  type: 'object',
  required: ['new_email', 'password'],
  properties: { new_email: email, password: currentPassword },
} as const;

export const changeEmailResponses = {
  202: answer('A confirmation link went to the new address and a notice to the current one; nothing changes until the link is followed (POST /auth/email/verify).', {
    type: 'object',
    properties: {},
    additionalProperties: false,
  }),
  400: refusal(`The new address is refused (${POLICY_TEXT.split(' or password')[0]}), malformed or the current one (request_invalid).`, [
    REQUEST_INVALID,
    ...POLICY_REFUSALS.filter(([, r]) => r.startsWith('email_')),
  ]),
  ...passwordRouteFailures,
} as const;

export const deleteAccountBody = {
  type: 'object',
  required: ['password'],
  properties: { password: currentPassword },
} as const;

export const deleteAccountResponses = {
  204: noContent('The account is gone: every session ended at once (access tokens refused everywhere), its pending links and rate-limit counters went with it, a notice went to the address, and the address may sign up again.'),
  ...unparsable('A parameter is missing or invalid.'),
  ...passwordRouteFailures,
} as const;
