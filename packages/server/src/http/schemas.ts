// JSON schemas for every body, query and param. Types are never coerced (the app's Ajv runs with
// coerceTypes off), so `{"password":["a"]}` or `{"email":{"$ne":null}}` is a 400, not a lookup.

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
    refresh_token: { type: 'string', minLength: 1, maxLength: 512 },
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

export const noQuery = { type: 'object', additionalProperties: false, maxProperties: 0 } as const;
