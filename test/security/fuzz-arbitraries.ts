// fast-check generators for hostile HTTP requests to every route, shared by the quick CI fuzz
// (fuzz.test.ts) and the long run (scripts/fuzz-long.ts), plus the one judgement both apply to
// every answer.
import { isReason } from '../../packages/core/src/reasons.js';
import fc from 'fast-check';

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Genuine material the generators splice in, so fuzzing reaches past the first check. */
export interface TokenPool {
  access: string[];
  refresh: string[];
  sessionIds: string[];
  emails: string[];
}

const SPECIAL = [
  '',
  ' ',
  '__proto__',
  'constructor',
  'prototype',
  '$ne',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '../../../../etc/passwd',
  "' OR '1'='1",
  '$(id)',
  '%00',
  '%ZZ',
  '\u0000',
  '\ud800',
  '\u202e',
  'é',
  '😀',
  'refresh_token',
  'password',
  'app',
  'Bearer',
  'a@b.co',
];

const routes: Array<[string, string]> = [
  ['POST', '/auth/signup'],
  ['POST', '/auth/login'],
  ['POST', '/auth/token'],
  ['POST', '/auth/revoke'],
  ['POST', '/auth/logout'],
  ['GET', '/auth/me'],
  ['GET', '/auth/sessions'],
  ['DELETE', '/auth/sessions'],
  ['DELETE', '/auth/sessions/:id'],
  ['GET', '/.well-known/jwks.json'],
  ['GET', '/.well-known/oauth-authorization-server'],
  ['GET', '/healthz'],
];

/** A character flipped, dropped or inserted: near-misses of genuine tokens. */
function mutate(s: string): fc.Arbitrary<string> {
  return fc.tuple(fc.nat({ max: Math.max(0, s.length - 1) }), fc.constantFrom('flip', 'drop', 'insert', 'dup', 'swapdot'), fc.string({ minLength: 1, maxLength: 1 })).map(([i, op, ch]) => {
    switch (op) {
      case 'flip':
        return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ 1) + s.slice(i + 1);
      case 'drop':
        return s.slice(0, i) + s.slice(i + 1);
      case 'insert':
        return s.slice(0, i) + ch + s.slice(i);
      case 'dup':
        return s + s.slice(i);
      default:
        return s.replace('.', '..');
    }
  });
}

function fromPool(xs: string[]): fc.Arbitrary<string> {
  return xs.length ? fc.constantFrom(...xs) : fc.constant('');
}

function valueArb(pool: TokenPool): fc.Arbitrary<string> {
  const genuine = [...pool.access, ...pool.refresh, ...pool.emails];
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
    { weight: 2, arbitrary: fromPool(genuine) },
    { weight: 3, arbitrary: fromPool(genuine).chain(mutate) },
    { weight: 1, arbitrary: fc.nat({ max: 70_000 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.emailAddress() },
  );
}

const JWT_PARTS = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
  fc.record({
    alg: fc.constantFrom('none', 'None', 'HS256', 'EdDSA', 'RS256', 'ES256', 'PS256', ''),
    typ: fc.constantFrom('at+jwt', 'JWT', 'application/at+jwt', ''),
    kid: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('../../etc/passwd', "' OR 1=1 --")),
  }, { requiredKeys: [] }).map((h) => Buffer.from(JSON.stringify(h)).toString('base64url')),
  fc.string({ maxLength: 30 }),
);

function authorizationArb(pool: TokenPool): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fromPool(pool.access).map((t) => `Bearer ${t}`) },
    { weight: 4, arbitrary: fromPool(pool.access).chain(mutate).map((t) => `Bearer ${t}`) },
    { weight: 3, arbitrary: fc.tuple(JWT_PARTS, JWT_PARTS, JWT_PARTS).map((p) => `Bearer ${p.join('.')}`) },
    { weight: 1, arbitrary: fc.array(JWT_PARTS, { maxLength: 6 }).map((p) => `Bearer ${p.join('.')}`) },
    { weight: 2, arbitrary: valueArb(pool).map((v) => `Bearer ${v}`) },
    { weight: 1, arbitrary: fromPool(pool.refresh).map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Basic', 'bearer', 'BEARER', 'Bearer', 'Token', ''), valueArb(pool)).map(([s, v]) => `${s} ${v}`) },
  );
}

function keysArb(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('email', 'password', 'grant_type', 'refresh_token', 'token', 'client_id', 'token_type_hint', 'scope') },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'others') },
    { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  );
}

function jsonBodyArb(pool: TokenPool): fc.Arbitrary<string> {
  const member = fc.oneof(
    { weight: 6, arbitrary: valueArb(pool).map((v) => v as unknown) },
    { weight: 1, arbitrary: fc.constantFrom('refresh_token', 'password').map((v) => v as unknown) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );
  // Shaped like the routes' bodies, so generated values reach the handlers and the throttle.
  const shaped = fc.record(
    {
      email: fc.oneof(fromPool(pool.emails), valueArb(pool)),
      password: valueArb(pool),
      grant_type: fc.oneof(fc.constant('refresh_token'), valueArb(pool)),
      refresh_token: fc.oneof(fromPool(pool.refresh), valueArb(pool)),
      token: fc.oneof(fromPool(pool.refresh), valueArb(pool)),
      client_id: fc.oneof(fc.constantFrom('app', 'mobile'), valueArb(pool)),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    { weight: 4, arbitrary: shaped.map((o) => JSON.stringify(o)) },
    { weight: 6, arbitrary: fc.dictionary(keysArb(), member, { maxKeys: 6 }).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null') },
    // Raw text: duplicate members, truncation, comments, escapes, deep nesting.
    { weight: 1, arbitrary: fc.tuple(keysArb(), valueArb(pool), valueArb(pool)).map(([k, a, b]) => `{${JSON.stringify(k)}:${JSON.stringify(a)},${JSON.stringify(k)}:${JSON.stringify(b)}}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 1, arbitrary: fc.nat({ max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
  );
}

function formBodyArb(pool: TokenPool): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(fc.tuple(keysArb(), valueArb(pool)), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString()) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
    { weight: 1, arbitrary: fc.tuple(keysArb(), valueArb(pool)).map(([k, v]) => `${k}[${k}][polluted]=${encodeURIComponent(wellFormed(v))}&${k}=1&${k}=2`) },
  );
}

function pathArb(pool: TokenPool): fc.Arbitrary<[string, string]> {
  const segment = fc.oneof(
    fromPool(pool.sessionIds),
    valueArb(pool).map((v) => encodeURIComponent(wellFormed(v.slice(0, 200)))),
    fc.constantFrom('%ZZ', '%', '..', '.', '%2e%2e', '%2F', '%00', 'a%20b', ''),
  );
  const query = fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    { weight: 2, arbitrary: fc.array(fc.tuple(fc.constantFrom('others', 'access_token', '__proto__[polluted]', 'a', 'constructor[prototype][x]'), valueArb(pool)), { maxLength: 4 }).map((p) => `?${new URLSearchParams(p)}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `?${s.replace(/[#\s]/g, '')}`) },
  );
  return fc.tuple(fc.constantFrom(...routes), segment, query, fc.constantFrom(...Array<string>(12).fill('none'), 'trailing', 'double', 'upper', 'method')).map(([[m, p], seg, q, twist]) => {
    let path = p.replace(':id', seg);
    let method = m;
    if (twist === 'trailing') path += '/';
    if (twist === 'double') path = path.replace('/auth/', '/auth//');
    if (twist === 'upper') path = path.toUpperCase();
    if (twist === 'method') method = ['PUT', 'PATCH', 'OPTIONS', 'HEAD', 'GET', 'POST', 'DELETE'][seg.length % 7]!;
    return [method, path + q];
  });
}

/** Lone surrogates become U+FFFD, as any UTF-8 transport would make them. */
function wellFormed(v: string): string {
  return Buffer.from(v, 'utf8').toString('utf8');
}

/** Header values as fetch can send them (a ByteString without CR, LF or NUL). */
export function headerSafe(v: string): string {
  return v.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');
}

export function requestArb(pool: TokenPool): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      route: pathArb(pool),
      authorization: authorizationArb(pool),
      contentType: fc.oneof(
        { weight: 4, arbitrary: fc.constant('application/json') },
        { weight: 3, arbitrary: fc.constant('application/x-www-form-urlencoded') },
        { weight: 2, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/xml', 'multipart/form-data', 'APPLICATION/JSON', '', 'application/x-www-form-urlencoded; charset=iso-8859-1') },
        { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
      ),
      json: jsonBodyArb(pool),
      form: formBodyArb(pool),
      extra: fc.dictionary(fc.constantFrom('user-agent', 'x-forwarded-for', 'accept', 'origin', 'cookie', 'x-http-method-override', 'content-encoding', 'accept-version'), valueArb(pool), { maxKeys: 3 }),
    })
    .map(({ route: [method, path], authorization, contentType, json, form, extra }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(extra)) headers[k] = headerSafe(v.slice(0, 2000));
      if (authorization !== undefined) headers.authorization = headerSafe(authorization);
      let body: string | undefined;
      if (method !== 'GET' && method !== 'HEAD') {
        if (contentType) headers['content-type'] = headerSafe(contentType);
        body = contentType.includes('form') ? form : json;
      }
      return { method, path, headers, body };
    });
}

export interface Verdict {
  ok: boolean;
  why?: string;
}

/** Never a 5xx; every error in the one public shape; nosniff everywhere. */
export function judge(req: FuzzRequest, status: number, headers: Headers, text: string, publicDescriptions: Set<string>): Verdict {
  if (status >= 500) return { ok: false, why: `status ${status}: ${text.slice(0, 200)}` };
  if (headers.get('x-content-type-options') !== 'nosniff') return { ok: false, why: `no nosniff on ${status}` };
  if (req.method === 'HEAD' || status < 400) return { ok: true };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, why: `non-JSON ${status} body: ${text.slice(0, 200)}` };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, why: `error body not an object: ${text.slice(0, 200)}` };
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'error,error_description,reason') return { ok: false, why: `error body keys ${keys}: ${text.slice(0, 200)}` };
  if (!isReason((body as { reason: unknown }).reason)) return { ok: false, why: `unknown reason: ${text.slice(0, 200)}` };
  const d = (body as { error_description: unknown }).error_description;
  if (typeof d !== 'string' || !publicDescriptions.has(d)) return { ok: false, why: `non-fixed description ${JSON.stringify(d)}` };
  if (status === 429 && !headers.get('retry-after')) return { ok: false, why: '429 without Retry-After' };
  return { ok: true };
}
