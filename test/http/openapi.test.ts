// The OpenAPI document (/openapi.json, docs/openapi.json): a valid OpenAPI 3.1 document that lists
// every route Fastify serves, committed exactly as served, and true: real servers are driven into
// every status (and every error reason) each operation documents, and every answer is checked
// against the document: the status is documented for that operation, the body validates against
// its schema with no undocumented member, and the documented headers are there and match.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { disableUser } from '../../packages/server/src/auth/admin.js';
import { settleResetRequests } from '../../packages/server/src/auth/password-reset.js';
import { isApiRoute } from '../../packages/server/src/http/openapi.js';
import { startOwnPostgres, type OwnPostgres } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { DpopKey } from '../helpers/dpop.js';
import { call, signup, uniqueEmail, type Res } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';

// CommonJS modules: their default export arrives as the module object under NodeNext.
const Ajv2020 = Ajv2020Module as unknown as typeof Ajv2020Module.default;
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const DOC_FILE = join(import.meta.dirname, '..', '..', 'docs', 'openapi.json');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Json = any;

// ---------------------------------------------------------------------------------------------
// The checker: what a real answer must satisfy to be "in the document".

interface Answer {
  method: string;
  /** The concrete path as requested (no query string). */
  path: string;
  status: number;
  headers: Headers;
  text: string;
}

/**
 * The schemas as the checker applies them: an object schema that does not say what other members
 * it allows gets `unevaluatedProperties: false`, so an answer carrying a member the document does
 * not mention fails. (The served document leaves them open, so that adding a member stays a
 * compatible change for clients.) allOf members are left alone: their parent sees what all of
 * them evaluate.
 */
function strictify(schema: Json, allOfMember = false): void {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
  const objectLike = schema.type === 'object' || 'properties' in schema || 'allOf' in schema;
  if (objectLike && !allOfMember && !('additionalProperties' in schema) && !('unevaluatedProperties' in schema)) {
    schema.unevaluatedProperties = false;
  }
  for (const p of Object.values(schema.properties ?? {})) strictify(p);
  if (schema.items) strictify(schema.items);
  if (typeof schema.additionalProperties === 'object') strictify(schema.additionalProperties);
  for (const m of schema.allOf ?? []) strictify(m, true);
}

const pointer = (...parts: string[]) => '#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

class DocChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly templates: Array<{ template: string; re: RegExp }>;

  constructor(readonly doc: Json) {
    const strict = structuredClone(doc);
    for (const s of Object.values(strict.components?.schemas ?? {})) strictify(s);
    for (const ops of Object.values<Json>(strict.paths)) {
      for (const op of Object.values<Json>(ops)) {
        for (const res of Object.values<Json>(op.responses ?? {})) for (const media of Object.values<Json>(res.content ?? {})) strictify(media.schema);
      }
    }
    addFormats(this.ajv);
    this.ajv.addSchema(strict, 'openapi');
    this.templates = Object.keys(doc.paths).map((template) => ({
      template,
      re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}/]+\}/g, '[^/]+')}$`),
    }));
  }

  templateOf(path: string): string | undefined {
    return this.templates.find((t) => t.re.test(path))?.template;
  }

  private validate(ref: string, value: unknown): string[] {
    const v = this.ajv.getSchema(`openapi${ref}`);
    if (!v) return [`no schema at ${ref}`];
    if (v(value)) return [];
    return (v.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }

  /** The ways `a` is not what the document says; empty when it is. */
  problems(a: Answer, template = this.templateOf(a.path)): string[] {
    const where = `${a.method} ${a.path} -> ${a.status}`;
    const op = template === undefined ? undefined : this.doc.paths[template][a.method.toLowerCase()];
    if (!op) {
      // Not an operation of the document: only the not-found answer (info.description) is allowed.
      if (a.status !== 404) return [`${where}: no such operation in the document, yet not a 404`];
      return this.validate(pointer('components', 'schemas', 'ErrorBody'), JSON.parse(a.text)).map((p) => `${where}: ${p}`);
    }
    const status = String(a.status);
    const key = op.responses[status] ? status : op.responses[`${status[0]}XX`] ? `${status[0]}XX` : op.responses.default ? 'default' : undefined;
    if (!key) return [`${where}: status ${status} is not documented for ${a.method} ${template}`];
    const res = op.responses[key];
    const out: string[] = [];
    for (const [name, h] of Object.entries<Json>(res.headers ?? {})) {
      const value = a.headers.get(name);
      if (value === null) {
        if (h.required) out.push(`${where}: documented header ${name} is missing`);
        continue;
      }
      for (const p of this.validate(pointer('paths', template!, a.method.toLowerCase(), 'responses', key, 'headers', name, 'schema'), value)) out.push(`${where}: header ${name}: ${p}`);
    }
    if (!res.content) {
      if (a.text !== '') out.push(`${where}: documented without a body, but has one`);
      return out;
    }
    const type = (a.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (!res.content[type]) return [...out, `${where}: content type "${type}" is not documented (${Object.keys(res.content).join(', ')})`];
    let body: unknown;
    try {
      body = JSON.parse(a.text);
    } catch {
      return [...out, `${where}: body is not JSON`];
    }
    const at = pointer('paths', template!, a.method.toLowerCase(), 'responses', key, 'content', type, 'schema');
    for (const p of this.validate(at, body)) out.push(`${where}: ${p}`);
    return out;
  }
}

/** The error reasons a documented refusal lists (refusal() in schemas.ts narrows ErrorBody with them). */
function documentedReasons(res: Json): string[] {
  const schema = res.content?.['application/json']?.schema;
  for (const m of schema?.allOf ?? []) if (m.properties?.reason?.enum) return m.properties.reason.enum;
  return [];
}

/** Every (method, url) Fastify has registered, from its route tree (find-my-way's prettyPrint). */
function registeredRoutes(app: FastifyInstance): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    if (!line.trim()) continue;
    const m = /^((?:│   |    )*)(?:└── |├── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    assert.ok(m, `cannot read the route tree line ${JSON.stringify(line)}`);
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    for (const method of m[3]?.split(', ') ?? []) out.push({ method, url: stack.join('') });
  }
  assert.ok(out.length > 0, 'no routes read from the route tree');
  return out;
}

// ---------------------------------------------------------------------------------------------

let srv: TestServer;
let doc: Json;
let served: Res;
let checker: DocChecker;

before(async () => {
  srv = await startServer({ LATCHKEY_CLIENTS: 'app,mobile', LATCHKEY_REUSE_GRACE: '0', LATCHKEY_LOGIN_ACCOUNT_LIMIT: '2' });
  served = await call(srv.url, 'GET', '/openapi.json');
  assert.equal(served.status, 200);
  doc = served.body;
  checker = new DocChecker(doc);
});
after(() => srv.close());

describe('the document', () => {
  it('is a valid OpenAPI 3.1 document (@apidevtools/swagger-parser)', async () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'Latchkey');
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'packages', 'server', 'package.json'), 'utf8'));
    assert.equal(doc.info.version, pkg.version);
    await SwaggerParser.validate(structuredClone(doc));
  });

  it('the validator does refuse a broken document', async () => {
    const breakages: Array<[string, (d: Json) => void]> = [
      ['a response without a description', (d) => delete d.paths['/auth/token'].post.responses['200'].description],
      ['a status that is not one', (d) => (d.paths['/auth/token'].post.responses['2000'] = { description: 'x' })],
      ['a reference to nothing', (d) => (d.paths['/auth/me'].get.responses['200'].content['application/json'].schema = { $ref: '#/components/schemas/Nope' })],
      ['a header object that is a bare schema', (d) => (d.paths['/auth/token'].post.responses['200'].headers.Pragma = { type: 'string' })],
    ];
    for (const [what, breakIt] of breakages) {
      const broken = structuredClone(doc);
      breakIt(broken);
      await assert.rejects(() => SwaggerParser.validate(broken), Error, what);
    }
  });

  it('docs/openapi.json is exactly what the server serves', () => {
    const committed = readFileSync(DOC_FILE, 'utf8');
    assert.ok(committed === served.text, 'docs/openapi.json differs from what the server generates: regenerate it with `npm run openapi` and commit it');
  });

  it('lists every route Fastify has registered, with every method, and nothing else', () => {
    const routes = registeredRoutes(srv.latchkey.app);
    const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url));
    // HEAD is Fastify's automatic twin of GET (the document says so instead of listing it).
    for (const r of routes.filter((x) => x.method === 'HEAD')) assert.ok(gets.has(r.url), `HEAD ${r.url} without GET`);
    const api = routes.filter((r) => r.method !== 'HEAD' && isApiRoute(r.url));
    const hidden = routes.filter((r) => !isApiRoute(r.url));
    assert.ok(hidden.length > 0 && hidden.every((r) => r.url === '/' || r.url === '*' || r.url.startsWith('/demo')), 'only the demo page and the CORS preflight are left out');
    const registered = api.map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`).sort();
    const documented = Object.entries<Json>(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).filter((k) => (METHODS as readonly string[]).includes(k)).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    assert.deepEqual(documented, registered);
  });

  it('documents the answers of every operation: no operation is left with the placeholder response', () => {
    for (const [p, ops] of Object.entries<Json>(doc.paths)) {
      for (const [m, op] of Object.entries<Json>(ops)) {
        const statuses = Object.keys(op.responses);
        assert.ok(statuses.some((s) => s.startsWith('2')), `${m} ${p} documents no success`);
        for (const s of statuses) assert.notEqual(op.responses[s].description, 'Default Response', `${m} ${p} ${s}`);
        assert.ok(op.operationId && op.summary && op.tags?.length, `${m} ${p} has an operationId, a summary and a tag`);
      }
    }
  });

  it('Bearer routes say so, the others do not; body routes take JSON and forms', () => {
    assert.deepEqual(doc.components.securitySchemes.bearer, { bearerFormat: 'JWT', description: doc.components.securitySchemes.bearer.description, scheme: 'bearer', type: 'http' });
    const bearer = ['POST /auth/logout', 'GET /auth/me', 'GET /auth/sessions', 'DELETE /auth/sessions', 'DELETE /auth/sessions/{id}', 'POST /auth/email/verify/resend', 'POST /auth/password', 'POST /auth/email', 'DELETE /auth/me'];
    for (const [p, ops] of Object.entries<Json>(doc.paths)) {
      for (const [m, op] of Object.entries<Json>(ops)) {
        const name = `${m.toUpperCase()} ${p}`;
        assert.deepEqual(op.security, bearer.includes(name) ? [{ bearer: [] }] : undefined, name);
        if (op.requestBody) assert.deepEqual(Object.keys(op.requestBody.content).sort(), ['application/json', 'application/x-www-form-urlencoded'], name);
      }
    }
    for (const p of ['/auth/signup', '/auth/login', '/auth/token', '/auth/revoke']) assert.ok(doc.paths[p].post.requestBody?.required, p);
  });

  it('serves itself without auth, revalidated, never cached stale', () => {
    assert.equal(served.headers.get('cache-control'), 'no-cache');
    assert.match(served.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(checker.problems({ method: 'GET', path: '/openapi.json', status: served.status, headers: served.headers, text: served.text }), []);
  });
});

describe('the checker finds answers that are not in the document', () => {
  const json = (extra: Record<string, string> = {}) => new Headers({ 'content-type': 'application/json; charset=utf-8', ...extra });
  const err = (error: string, reason: string) => JSON.stringify({ error, error_description: 'x', reason });
  const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' };
  const token = JSON.stringify({ access_token: 'a', token_type: 'Bearer', expires_in: 300, refresh_token: 'r' });
  const cases: Array<[string, Answer, RegExp]> = [
    ['an undocumented status', { method: 'POST', path: '/auth/login', status: 418, headers: json(), text: err('invalid_request', 'request_invalid') }, /status 418 is not documented/],
    ['a status another route has', { method: 'GET', path: '/.well-known/jwks.json', status: 401, headers: json(), text: err('invalid_token', 'access_token_missing') }, /not documented/],
    ['a body missing a member', { method: 'POST', path: '/auth/token', status: 200, headers: json(noStore), text: JSON.stringify({ access_token: 'a', token_type: 'Bearer', expires_in: 300 }) }, /refresh_token/],
    ['an undocumented member', { method: 'POST', path: '/auth/token', status: 200, headers: json(noStore), text: token.replace('}', ',"scope":"x"}') }, /unevaluated/],
    ['a nested undocumented member', { method: 'GET', path: '/auth/me', status: 200, headers: json(noStore), text: JSON.stringify({ user: { id: 'u', email: 'e', createdAt: '2024-01-01T00:00:00.000Z', passwordHash: 'h' } }) }, /unevaluated/],
    ['a malformed timestamp', { method: 'GET', path: '/auth/me', status: 200, headers: json(noStore), text: JSON.stringify({ user: { id: 'u', email: 'e', createdAt: 'yesterday' } }) }, /format/],
    ['a reason this status does not carry here', { method: 'POST', path: '/auth/login', status: 401, headers: json(), text: err('invalid_credentials', 'session_revoked') }, /allowedValues/],
    ['an unknown reason', { method: 'POST', path: '/auth/token', status: 400, headers: json(noStore), text: err('invalid_grant', 'because') }, /allowedValues/],
    ['a missing required header', { method: 'GET', path: '/auth/me', status: 401, headers: json(), text: err('invalid_token', 'access_token_missing') }, /WWW-Authenticate is missing/],
    ['a header of the wrong value', { method: 'POST', path: '/auth/token', status: 200, headers: json({ 'cache-control': 'max-age=60', pragma: 'no-cache' }), text: token }, /Cache-Control/],
    ['a body on a 204', { method: 'POST', path: '/auth/logout', status: 204, headers: json(), text: '{}' }, /without a body/],
    ['an undocumented content type', { method: 'GET', path: '/healthz', status: 200, headers: new Headers({ 'content-type': 'text/plain' }), text: 'ok' }, /content type/],
    ['a path not in the document that is not a 404', { method: 'GET', path: '/admin', status: 200, headers: json(), text: '{}' }, /no such operation/],
  ];
  for (const [what, answer, expected] of cases) {
    it(`reports ${what}`, () => {
      const problems = checker.problems(answer);
      assert.ok(problems.some((p) => expected.test(p)), `expected a problem matching ${expected}, got ${JSON.stringify(problems)}`);
    });
  }
  it('and passes a correct answer', () => {
    assert.deepEqual(checker.problems({ method: 'POST', path: '/auth/token', status: 200, headers: json(noStore), text: token }), []);
  });
});

// ---------------------------------------------------------------------------------------------
// Coverage: every documented status of every operation, from real servers.

/** (operation, status) pairs, and reasons, that the answers below reached. */
const reached = new Set<string>();
const opKey = (method: string, template: string, status: number | string) => `${method.toUpperCase()} ${template} ${status}`;

/** What no test here can reach without breaking the server itself, and why. */
const UNREACHED: Array<[RegExp, string]> = [
  [/ 500$/, 'internal_error only answers a fault in the server; its body is checked on a test-only route (below)'],
];

async function drive(
  base: string,
  method: string,
  path: string,
  expect: number,
  opts: Parameters<typeof call>[3] & { reason?: string } = {},
): Promise<Res> {
  const r = await call(base, method, path, opts);
  const bare = path.split('?')[0]!;
  assert.equal(r.status, expect, `${method} ${path}: ${r.text}`);
  if (opts.reason !== undefined) assert.equal(r.body?.reason, opts.reason, `${method} ${path}: ${r.text}`);
  assert.deepEqual(checker.problems({ method, path: bare, status: r.status, headers: r.headers, text: r.text }), [], `${method} ${path}`);
  const template = checker.templateOf(bare);
  if (template) {
    reached.add(opKey(method, template, r.status));
    if (r.body?.reason) reached.add(`${opKey(method, template, r.status)} ${r.body.reason}`);
  }
  return r;
}

const XML = { body: '<x/>', headers: { 'content-type': 'application/xml' } };
const huge = (): { json: unknown } => ({ json: { email: 'a@example.com', password: 'x'.repeat(64 * 1024) } });
const password = 'correct horse battery';

describe('coverage: every documented answer, from a real server', () => {
  let B: string;
  before(() => {
    B = srv.url;
  });

  it('POST /auth/signup', async () => {
    const email = uniqueEmail();
    await drive(B, 'POST', '/auth/signup', 201, { json: { email, password } });
    await drive(B, 'POST', '/auth/signup', 201, { form: new URLSearchParams({ email: uniqueEmail(), password }).toString() });
    await drive(B, 'POST', '/auth/signup', 409, { json: { email: email.toUpperCase(), password }, reason: 'email_taken' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: uniqueEmail(), password: 'short' }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: 'not-an-address', password }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: `\u200B${uniqueEmail()}`, password }, reason: 'email_invisible_character' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: `\u202E${uniqueEmail()}`, password }, reason: 'email_bidi_control' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: `\uD800${uniqueEmail()}`, password }, reason: 'email_unpaired_surrogate' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: 'p\u0435ter@example.com', password }, reason: 'email_mixed_scripts' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: uniqueEmail(), password: 'password' }, reason: 'password_common' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: 'correcthorse@example.com', password: 'correcthorse' }, reason: 'password_matches_email' });
    await drive(B, 'POST', '/auth/signup', 400, { json: { email: uniqueEmail(), password, client_id: 'evil' }, reason: 'client_unknown' });
    const disabled = await signup(B);
    await disableUser(srv.latchkey.ctx, disabled.user.id, 'openapi test');
    await drive(B, 'POST', '/auth/signup', 403, { json: { email: disabled.email, password }, reason: 'account_disabled' });
    await drive(B, 'POST', '/auth/signup', 413, { ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/signup', 415, { ...XML, reason: 'content_type_unsupported' });
  });

  it('POST /auth/signup and /auth/login: the sign-up limit (429) and a full hashing queue (503 busy)', async () => {
    // Three sign-ups from 127.0.0.1 pass: the account below and the two that fill the queue.
    const local = await startServer({ LATCHKEY_SIGNUP_IP_LIMIT: '3', LATCHKEY_HASH_CONCURRENCY: '1', LATCHKEY_HASH_QUEUE: '1' });
    try {
      const u = await signup(local.url);
      // One hash runs and one waits: the queue (depth 1) is full until they are done.
      const fill = (path: string, email: string) => Promise.all(Array.from({ length: 2 }, () => call(local.url, 'POST', path, { json: { email, password: 'wrong password' } })));
      const busy = async (path: string, email: string) => {
        const filling = fill(path, email);
        const deadline = Date.now() + 10_000;
        while (local.latchkey.ctx.hasher.stats().waiting < 1) {
          assert.ok(Date.now() < deadline, `${path}: the queue never filled`);
          await new Promise((r) => setTimeout(r, 1));
        }
        await drive(local.url, 'POST', path, 503, { json: { email, password }, reason: 'busy' });
        await filling;
      };
      await busy('/auth/login', u.email);
      await busy('/auth/signup', u.email);
      await drive(local.url, 'POST', '/auth/signup', 429, { json: { email: uniqueEmail(), password }, reason: 'rate_limited' });
    } finally {
      await local.close();
    }
  });

  it('POST /auth/login', async () => {
    const u = await signup(B);
    await drive(B, 'POST', '/auth/login', 200, { json: { email: u.email, password } });
    await drive(B, 'POST', '/auth/login', 200, { form: new URLSearchParams({ email: u.email, password, client_id: 'mobile' }).toString() });
    await drive(B, 'POST', '/auth/login', 400, { json: { email: u.email }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/login', 400, { json: { email: u.email, password, client_id: 'evil' }, reason: 'client_unknown' });
    // LATCHKEY_LOGIN_ACCOUNT_LIMIT=2: two failures, then the account is refused from this source.
    await drive(B, 'POST', '/auth/login', 401, { json: { email: u.email, password: 'wrong password' }, reason: 'credentials_invalid' });
    await drive(B, 'POST', '/auth/login', 401, { json: { email: uniqueEmail(), password: 'wrong password' }, reason: 'credentials_invalid' });
    await drive(B, 'POST', '/auth/login', 401, { json: { email: u.email, password: 'wrong password' }, reason: 'credentials_invalid' });
    const limited = await drive(B, 'POST', '/auth/login', 429, { json: { email: u.email, password }, reason: 'rate_limited' });
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const disabled = await signup(B);
    await disableUser(srv.latchkey.ctx, disabled.user.id, 'openapi test');
    await drive(B, 'POST', '/auth/login', 403, { json: { email: disabled.email, password }, reason: 'account_disabled' });
    await drive(B, 'POST', '/auth/login', 413, { ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/login', 415, { ...XML, reason: 'content_type_unsupported' });
  });

  it('POST /auth/token', async () => {
    const u = await signup(B);
    const next = await drive(B, 'POST', '/auth/token', 200, { json: { grant_type: 'refresh_token', refresh_token: u.refresh_token } });
    const form = await drive(B, 'POST', '/auth/token', 200, { form: `grant_type=refresh_token&refresh_token=${next.body.refresh_token}` });
    // LATCHKEY_REUSE_GRACE=0: the predecessor replayed is reuse; the session is revoked.
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: u.refresh_token }, reason: 'refresh_token_reused' });
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: form.body.refresh_token }, reason: 'refresh_token_reused' });
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: 'nonsense' }, reason: 'refresh_token_invalid' });
    const v = await signup(B);
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: v.refresh_token, client_id: 'mobile' }, reason: 'client_mismatch' });
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: v.refresh_token, client_id: 'evil' }, reason: 'client_unknown' });
    await drive(B, 'POST', '/auth/token', 400, { form: 'grant_type=password&username=a&password=b', reason: 'grant_type_unsupported' });
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token' }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/token', 400, { form: `grant_type=refresh_token&refresh_token=${v.refresh_token}&refresh_token=${v.refresh_token}`, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/logout', 204, { token: v.access_token });
    await drive(B, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: v.refresh_token }, reason: 'session_ended' });
    await drive(B, 'POST', '/auth/token', 413, { json: { grant_type: 'refresh_token', refresh_token: 'x'.repeat(64 * 1024) }, reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/token', 415, { ...XML, reason: 'content_type_unsupported' });
  });

  it('POST /auth/token: an expired session', async () => {
    let now = Date.now();
    const local = await startServer({ LATCHKEY_SESSION_IDLE: '60' }, { now: () => now });
    try {
      const u = await signup(local.url);
      now += 61_000;
      await drive(local.url, 'POST', '/auth/token', 400, { json: { grant_type: 'refresh_token', refresh_token: u.refresh_token }, reason: 'session_expired' });
    } finally {
      await local.close();
    }
  });

  it('RFC 9449: DPoP proofs at sign-up, login and token, and DPoP-bound tokens on Bearer routes', async () => {
    const key = new DpopKey();
    const proofFor = (path: string, o: Parameters<DpopKey['proof']>[2] = {}) => ({ dpop: key.proof(B + path, 'POST', o) });
    for (const path of ['/auth/signup', '/auth/login']) {
      const json = { email: uniqueEmail(), password };
      const challenged = await drive(B, 'POST', path, 400, { json, headers: proofFor(path, { nonce: null }), reason: 'dpop_nonce_required' });
      key.learn(B, challenged);
      await drive(B, 'POST', path, 400, { json, headers: proofFor(path, { htu: `${B}/elsewhere` }), reason: 'dpop_proof_invalid' });
    }
    const email = uniqueEmail();
    const u = await key.signup(B, email);
    assert.equal(u.status, 201);
    assert.equal(u.body.token_type, 'DPoP');
    const login = await drive(B, 'POST', '/auth/login', 200, { json: { email, password }, headers: proofFor('/auth/login') });
    assert.equal(login.body.token_type, 'DPoP');
    const tokenBody = (rt: string) => ({ grant_type: 'refresh_token', refresh_token: rt });
    await drive(B, 'POST', '/auth/token', 400, { json: tokenBody(u.body.refresh_token), headers: proofFor('/auth/token', { nonce: null }), reason: 'dpop_nonce_required' });
    await drive(B, 'POST', '/auth/token', 400, { json: tokenBody(u.body.refresh_token), headers: proofFor('/auth/token', { htm: 'GET' }), reason: 'dpop_proof_invalid' });
    const rotated = await drive(B, 'POST', '/auth/token', 200, { json: tokenBody(u.body.refresh_token), headers: proofFor('/auth/token') });
    assert.equal(rotated.body.token_type, 'DPoP');
    const at = rotated.body.access_token as string;
    // Bearer routes: the bound token as Bearer, and with proofs that do not fit.
    const bearerOnly = await drive(B, 'GET', '/auth/me', 401, { token: at, reason: 'access_token_bound' });
    assert.match(bearerOnly.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_token"/);
    await drive(B, 'GET', '/auth/me', 401, { headers: { authorization: `DPoP ${at}`, dpop: key.proof(`${B}/auth/me`, 'GET', { accessToken: 'another token', nonce: null }) }, reason: 'dpop_proof_invalid' });
    await drive(B, 'GET', '/auth/me', 200, { headers: { authorization: `DPoP ${at}`, dpop: key.proof(`${B}/auth/me`, 'GET', { accessToken: at, nonce: null }) } });
    const bearerSession = await signup(B);
    await drive(B, 'GET', '/auth/me', 401, { headers: { authorization: `DPoP ${bearerSession.access_token}`, dpop: key.proof(`${B}/auth/me`, 'GET', { accessToken: bearerSession.access_token, nonce: null }) }, reason: 'access_token_bound' });
    // Another key's proof with the bound session's current token: a copy; the session is revoked.
    const thief = new DpopKey();
    thief.nonces.set(new URL(B).origin, key.nonces.get(new URL(B).origin)!);
    await drive(B, 'POST', '/auth/token', 400, { json: tokenBody(rotated.body.refresh_token), headers: { dpop: thief.proof(`${B}/auth/token`, 'POST') }, reason: 'dpop_key_mismatch' });
    const required = await startServer({ LATCHKEY_DPOP: 'required' });
    try {
      await drive(required.url, 'POST', '/auth/signup', 400, { json: { email: uniqueEmail(), password }, reason: 'dpop_proof_required' });
      await drive(required.url, 'POST', '/auth/login', 400, { json: { email: uniqueEmail(), password }, reason: 'dpop_proof_required' });
    } finally {
      await required.close();
    }
  });

  it('POST /auth/revoke', async () => {
    const u = await signup(B);
    await drive(B, 'POST', '/auth/revoke', 200, { form: `token=${u.refresh_token}` });
    await drive(B, 'POST', '/auth/revoke', 200, { json: { token: 'garbage' } });
    await drive(B, 'POST', '/auth/revoke', 400, { json: {}, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/revoke', 400, { json: { token: 'garbage', client_id: 'evil' }, reason: 'client_unknown' });
    await drive(B, 'POST', '/auth/revoke', 413, { json: { token: 'x'.repeat(64 * 1024) }, reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/revoke', 415, { ...XML, reason: 'content_type_unsupported' });
  });

  it('Bearer routes: 401 for a missing, an invalid and a revoked access token', async () => {
    const u = await signup(B);
    await drive(B, 'POST', '/auth/logout', 204, { token: u.access_token });
    const key = new DpopKey();
    const bound = (await key.signup(B, uniqueEmail())).body.access_token;
    const bearer: Array<[string, string]> = [
      ['POST', '/auth/logout'],
      ['GET', '/auth/me'],
      ['GET', '/auth/sessions'],
      ['DELETE', '/auth/sessions'],
      ['DELETE', '/auth/sessions/abc'],
      ['POST', '/auth/email/verify/resend'],
      ['POST', '/auth/password'],
      ['POST', '/auth/email'],
      ['DELETE', '/auth/me'],
    ];
    for (const [method, path] of bearer) {
      const missing = await drive(B, method, path, 401, { reason: 'access_token_missing' });
      // RFC 6750 §3.1 and RFC 9449 §7.1: both schemes are offered, neither with an error.
      assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer realm="latchkey", DPoP algs="ES256 [^"]*"$/);
      await drive(B, method, path, 401, { token: 'garbage', reason: 'access_token_invalid' });
      await drive(B, method, path, 401, { token: u.access_token, reason: 'session_revoked' });
      await drive(B, method, path, 401, { token: bound, reason: 'access_token_bound' });
      await drive(B, method, path, 401, { headers: { authorization: `DPoP ${bound}`, dpop: key.proof(B + path, method === 'GET' ? 'POST' : 'GET', { accessToken: bound, nonce: null }) }, reason: 'dpop_proof_invalid' });
    }
  });

  it('POST /auth/logout', async () => {
    const u = await signup(B);
    await drive(B, 'POST', '/auth/logout', 400, { token: u.access_token, body: '{', headers: { 'content-type': 'application/json' }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/logout', 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/logout', 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'POST', '/auth/logout', 204, { token: u.access_token });
  });

  it('GET /auth/me and GET /auth/sessions', async () => {
    const u = await signup(B);
    await call(B, 'POST', '/auth/login', { json: { email: u.email, password }, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0) Firefox/130.0' } });
    await drive(B, 'GET', '/auth/me', 200, { token: u.access_token });
    await drive(B, 'GET', '/auth/me?x=1', 400, { token: u.access_token, reason: 'request_invalid' });
    const list = await drive(B, 'GET', '/auth/sessions', 200, { token: u.access_token });
    assert.equal(list.body.sessions.length, 2);
    await drive(B, 'GET', '/auth/sessions?others=true', 400, { token: u.access_token, reason: 'request_invalid' });
  });

  it('DELETE /auth/sessions/{id}', async () => {
    const u = await signup(B);
    const other = await call(B, 'POST', '/auth/login', { json: { email: u.email, password } });
    const sessions = (await call(B, 'GET', '/auth/sessions', { token: u.access_token })).body.sessions as Array<{ id: string; current: boolean }>;
    const id = sessions.find((s) => !s.current)!.id;
    const stranger = await signup(B);
    await drive(B, 'DELETE', `/auth/sessions/${id}`, 404, { token: stranger.access_token, reason: 'not_found' });
    await drive(B, 'DELETE', '/auth/sessions/nope', 404, { token: u.access_token, reason: 'not_found' });
    await drive(B, 'DELETE', '/auth/sessions/no.such.id', 400, { token: u.access_token, reason: 'request_invalid' });
    await drive(B, 'DELETE', `/auth/sessions/${id}`, 400, { token: u.access_token, body: '{', headers: { 'content-type': 'application/json' }, reason: 'request_invalid' });
    await drive(B, 'DELETE', `/auth/sessions/${id}`, 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'DELETE', `/auth/sessions/${id}`, 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'DELETE', `/auth/sessions/${id}`, 204, { token: u.access_token });
    assert.equal((await call(B, 'GET', '/auth/me', { token: other.body.access_token })).status, 401);
  });

  it('DELETE /auth/sessions', async () => {
    const u = await signup(B);
    await call(B, 'POST', '/auth/login', { json: { email: u.email, password } });
    await drive(B, 'DELETE', '/auth/sessions?others=yes', 400, { token: u.access_token, reason: 'request_invalid' });
    await drive(B, 'DELETE', '/auth/sessions?others=true&others=false', 400, { token: u.access_token, reason: 'request_invalid' });
    await drive(B, 'DELETE', '/auth/sessions', 400, { token: u.access_token, body: '{', headers: { 'content-type': 'application/json' }, reason: 'request_invalid' });
    await drive(B, 'DELETE', '/auth/sessions', 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'DELETE', '/auth/sessions', 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'DELETE', '/auth/sessions?others=true', 204, { token: u.access_token });
    await drive(B, 'DELETE', '/auth/sessions', 204, { token: u.access_token });
  });

  it('POST /auth/email/verify and POST /auth/email/verify/resend', async () => {
    const u = await signup(B);
    // No SMTP here: the links are in the dev outbox.
    const link = () => new URL(srv.latchkey.ctx.mailer.outbox!.list().find((m) => m.to === u.email && m.kind === 'verify_email')!.link!).searchParams.get('token')!;
    await srv.latchkey.ctx.mailer.queue.drained(2000);
    const first = link();
    await drive(B, 'POST', '/auth/email/verify/resend', 202, { token: u.access_token });
    await drive(B, 'POST', '/auth/email/verify/resend', 400, { token: u.access_token, body: '{', headers: { 'content-type': 'application/json' }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/email/verify/resend', 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/email/verify/resend', 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    for (let i = 0; i < 4; i++) await call(B, 'POST', '/auth/email/verify/resend', { token: u.access_token });
    const limited = await drive(B, 'POST', '/auth/email/verify/resend', 429, { token: u.access_token, reason: 'rate_limited' });
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    await srv.latchkey.ctx.mailer.queue.drained(2000);
    await drive(B, 'POST', '/auth/email/verify', 400, { json: { token: first }, reason: 'link_token_invalid' });
    await drive(B, 'POST', '/auth/email/verify', 400, { json: {}, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/email/verify', 413, { json: { token: 'x'.repeat(64 * 1024) }, reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/email/verify', 415, { ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'POST', '/auth/email/verify', 204, { form: `token=${link()}` });
  });

  it('POST /auth/password/forgot and POST /auth/password/reset', async () => {
    const u = await signup(B);
    await drive(B, 'POST', '/auth/password/forgot', 202, { json: { email: u.email } });
    await settleResetRequests(srv.latchkey.ctx);
    await srv.latchkey.ctx.mailer.queue.drained(2000);
    const token = new URL(srv.latchkey.ctx.mailer.outbox!.list().find((m) => m.to === u.email && m.kind === 'reset_password')!.link!).searchParams.get('token')!;
    await drive(B, 'POST', '/auth/password/reset', 400, { json: { token, password: 'password' }, reason: 'password_common' });
    await drive(B, 'POST', '/auth/password/reset', 400, { json: { token, password: u.email }, reason: 'password_matches_email' });
    await drive(B, 'POST', '/auth/password/reset', 400, { json: { token }, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/password/reset', 413, { json: { token, password: 'x'.repeat(64 * 1024) }, reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/password/reset', 415, { ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'POST', '/auth/password/reset', 204, { form: new URLSearchParams({ token, password: 'a brand new passphrase' }).toString() });
    await drive(B, 'POST', '/auth/password/reset', 400, { json: { token, password: 'a brand new passphrase' }, reason: 'link_token_invalid' });
    await drive(B, 'POST', '/auth/password/forgot', 202, { form: `email=${encodeURIComponent(uniqueEmail())}` });
    await drive(B, 'POST', '/auth/password/forgot', 400, { json: {}, reason: 'request_invalid' });
    await drive(B, 'POST', '/auth/password/forgot', 413, { ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/password/forgot', 415, { ...XML, reason: 'content_type_unsupported' });
    let limited: Res | undefined;
    for (let i = 0; i < 25 && !limited; i++) {
      const r = await call(B, 'POST', '/auth/password/forgot', { json: { email: uniqueEmail() } });
      if (r.status === 429) limited = await drive(B, 'POST', '/auth/password/forgot', 429, { json: { email: uniqueEmail() }, reason: 'rate_limited' });
    }
    assert.ok(limited && Number(limited.headers.get('retry-after')) >= 1);
    await settleResetRequests(srv.latchkey.ctx);
  });

  it('POST /auth/password, POST /auth/email (and its 409 at POST /auth/email/verify), DELETE /auth/me', async () => {
    const outboxToken = async (to: string, kind: string) => {
      await srv.latchkey.ctx.mailer.queue.drained(2000);
      return new URL(srv.latchkey.ctx.mailer.outbox!.list().find((m) => m.to === to && m.kind === kind)!.link!).searchParams.get('token')!;
    };
    const u = await signup(B);
    const bad = { token: u.access_token, body: '{', headers: { 'content-type': 'application/json' }, reason: 'request_invalid' };
    await drive(B, 'POST', '/auth/password', 400, { token: u.access_token, json: { current_password: password, new_password: 'password' }, reason: 'password_common' });
    await drive(B, 'POST', '/auth/password', 400, { token: u.access_token, json: { current_password: password, new_password: u.email }, reason: 'password_matches_email' });
    await drive(B, 'POST', '/auth/password', 400, bad);
    await drive(B, 'POST', '/auth/password', 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/password', 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'POST', '/auth/password', 204, { token: u.access_token, form: new URLSearchParams({ current_password: password, new_password: 'a changed passphrase' }).toString() });
    await drive(B, 'POST', '/auth/email', 400, { token: u.access_token, json: { new_email: u.email, password: 'a changed passphrase' }, reason: 'request_invalid' });
    for (const [new_email, reason] of [
      [`\u200B${uniqueEmail()}`, 'email_invisible_character'],
      [`\u202E${uniqueEmail()}`, 'email_bidi_control'],
      [`\uD800${uniqueEmail()}`, 'email_unpaired_surrogate'],
      ['p\u0435ter@example.com', 'email_mixed_scripts'],
    ]) {
      await drive(B, 'POST', '/auth/email', 400, { token: u.access_token, json: { new_email, password: 'a changed passphrase' }, reason });
    }
    await drive(B, 'POST', '/auth/email', 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'POST', '/auth/email', 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    const contested = uniqueEmail();
    await drive(B, 'POST', '/auth/email', 202, { token: u.access_token, json: { new_email: contested, password: 'a changed passphrase' } });
    const token = await outboxToken(contested, 'email_change_requested');
    await signup(B, contested);
    await drive(B, 'POST', '/auth/email/verify', 409, { json: { token }, reason: 'email_taken' });
    await drive(B, 'DELETE', '/auth/me', 400, { token: u.access_token, json: {}, reason: 'request_invalid' });
    await drive(B, 'DELETE', '/auth/me', 413, { token: u.access_token, ...huge(), reason: 'body_too_large' });
    await drive(B, 'DELETE', '/auth/me', 415, { token: u.access_token, ...XML, reason: 'content_type_unsupported' });
    await drive(B, 'DELETE', '/auth/me', 204, { token: u.access_token, json: { password: 'a changed passphrase' } });
    // LATCHKEY_LOGIN_ACCOUNT_LIMIT=2: wrong passwords are login failures; then the account is throttled.
    const v = await signup(B);
    await drive(B, 'POST', '/auth/password', 403, { token: v.access_token, json: { current_password: 'wrong password', new_password: 'a changed passphrase' }, reason: 'credentials_invalid' });
    await drive(B, 'POST', '/auth/email', 403, { token: v.access_token, json: { new_email: uniqueEmail(), password: 'wrong password' }, reason: 'credentials_invalid' });
    for (const [method, path, json] of [
      ['POST', '/auth/password', { current_password: password, new_password: 'a changed passphrase' }],
      ['POST', '/auth/email', { new_email: uniqueEmail(), password }],
      ['DELETE', '/auth/me', { password }],
    ] as const) {
      await drive(B, method, path, 429, { token: v.access_token, json, reason: 'rate_limited' });
    }
    const w = await signup(B);
    await drive(B, 'DELETE', '/auth/me', 403, { token: w.access_token, json: { password: 'wrong password' }, reason: 'credentials_invalid' });
  });

  it('LATCHKEY_REQUIRE_VERIFIED_EMAIL: sign-up 202, login 403 email_unverified', async () => {
    const local = await startServer({ LATCHKEY_REQUIRE_VERIFIED_EMAIL: 'true' });
    try {
      const email = uniqueEmail();
      await drive(local.url, 'POST', '/auth/signup', 202, { json: { email, password } });
      await drive(local.url, 'POST', '/auth/login', 403, { json: { email, password }, reason: 'email_unverified' });
    } finally {
      await local.close();
    }
  });

  it('discovery, health and this document', async () => {
    await drive(B, 'GET', '/.well-known/jwks.json', 200);
    await drive(B, 'GET', '/.well-known/oauth-authorization-server', 200);
    await drive(B, 'GET', '/healthz', 200);
    await drive(B, 'GET', '/openapi.json', 200);
  });

  it('ES256 and RS256 keys are in the documented JWKS shape too', async () => {
    for (const alg of ['ES256', 'RS256']) {
      const local = await startServer({ LATCHKEY_ALG: alg });
      try {
        const r = await drive(local.url, 'GET', '/.well-known/jwks.json', 200);
        assert.equal(r.body.keys[0].alg, alg);
        await drive(local.url, 'GET', '/.well-known/oauth-authorization-server', 200);
      } finally {
        await local.close();
      }
    }
  });

  it('answers outside any operation: unknown path or method 404, malformed URL 400, in the error body', async () => {
    const unknown = await call(B, 'GET', '/nope');
    assert.deepEqual(checker.problems({ method: 'GET', path: '/nope', status: unknown.status, headers: unknown.headers, text: unknown.text }), []);
    assert.equal(unknown.body.reason, 'not_found');
    const method = await call(B, 'PUT', '/auth/login', { json: {} });
    assert.equal(method.status, 404);
    assert.deepEqual(checker.problems({ method: 'PUT', path: '/auth/login', status: method.status, headers: method.headers, text: method.text }), []);
    const badUrl = await drive(B, 'DELETE', '/auth/sessions/%ZZ', 400, { token: (await signup(B)).access_token });
    assert.equal(badUrl.body.reason, 'request_invalid');
  });

  it('every /auth/ operation: a browser request from a foreign origin is 403 origin_not_allowed', async () => {
    const u = await signup(B);
    const origin = { origin: 'https://evil.example' };
    for (const [p, ops] of Object.entries<Json>(doc.paths)) {
      if (!p.startsWith('/auth/')) continue;
      for (const m of Object.keys(ops)) {
        const path = p.replace('{id}', 'someid');
        const body = m === 'get' ? {} : { json: {} };
        await drive(B, m.toUpperCase(), path, 403, { ...body, token: u.access_token, headers: origin, reason: 'origin_not_allowed' });
      }
    }
  });
});

describe('coverage: 503 with the stores down, and the 500 body', () => {
  let redis: RedisProcess;
  let pg: OwnPostgres;
  let down: TestServer;
  before(async () => {
    [redis, pg] = await Promise.all([startRedis(), startOwnPostgres()]);
    down = await startServer({ LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: pg.url, LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY });
  });
  after(async () => {
    await down?.close();
    await Promise.all([redis?.stop(), pg?.stop()]);
  });

  it('every operation that uses a store answers 503 temporarily_unavailable with Retry-After', async () => {
    const D = down.url;
    const u = await signup(D);
    const sessionId = (await call(D, 'GET', '/auth/sessions', { token: u.access_token })).body.sessions[0].id;
    await Promise.all([redis.kill('SIGKILL'), pg.kill()]);
    const unavailable = { reason: 'unavailable' };
    await drive(D, 'POST', '/auth/signup', 503, { json: { email: uniqueEmail(), password }, ...unavailable });
    await drive(D, 'POST', '/auth/login', 503, { json: { email: u.email, password }, ...unavailable });
    await drive(D, 'POST', '/auth/token', 503, { json: { grant_type: 'refresh_token', refresh_token: u.refresh_token }, ...unavailable });
    await drive(D, 'POST', '/auth/revoke', 503, { json: { token: u.refresh_token }, ...unavailable });
    await drive(D, 'GET', '/auth/me', 503, { token: u.access_token, ...unavailable });
    await drive(D, 'GET', '/auth/sessions', 503, { token: u.access_token, ...unavailable });
    await drive(D, 'DELETE', `/auth/sessions/${sessionId}`, 503, { token: u.access_token, ...unavailable });
    await drive(D, 'DELETE', '/auth/sessions', 503, { token: u.access_token, ...unavailable });
    await drive(D, 'POST', '/auth/email/verify', 503, { json: { token: 'A'.repeat(43) }, ...unavailable });
    await drive(D, 'POST', '/auth/email/verify/resend', 503, { token: u.access_token, ...unavailable });
    await drive(D, 'POST', '/auth/password', 503, { token: u.access_token, json: { current_password: password, new_password: 'a brand new passphrase' }, ...unavailable });
    await drive(D, 'POST', '/auth/email', 503, { token: u.access_token, json: { new_email: uniqueEmail(), password }, ...unavailable });
    await drive(D, 'DELETE', '/auth/me', 503, { token: u.access_token, json: { password }, ...unavailable });
    // Last of the Bearer calls: a logout revokes the session in this instance first (issue 12:
    // before the store is asked to end it), so this access token is refused from here on.
    await drive(D, 'POST', '/auth/logout', 503, { token: u.access_token, ...unavailable });
    await drive(D, 'POST', '/auth/password/forgot', 503, { json: { email: u.email }, ...unavailable });
    await drive(D, 'POST', '/auth/password/reset', 503, { json: { token: 'A'.repeat(43), password: 'a brand new passphrase' }, ...unavailable });
    const health = await drive(D, 'GET', '/healthz', 503);
    assert.deepEqual(health.body, { status: 'degraded', checks: { redis: 'down', postgres: 'down' } });
    // Keys, metadata and this document need no store.
    await drive(D, 'GET', '/.well-known/jwks.json', 200);
    await drive(D, 'GET', '/openapi.json', 200);
    await Promise.all([redis.restart(), pg.start()]);
  });

  it('the 500 every operation documents is what the error handler sends', async () => {
    const boom = async (app: FastifyInstance) => {
      app.get('/test/boom', { schema: { hide: true } }, async () => {
        throw new Error('boom');
      });
    };
    const local = await startServer({}, { plugins: [boom] });
    try {
      const r = await call(local.url, 'GET', '/test/boom');
      assert.equal(r.status, 500);
      assert.equal(r.body.reason, 'internal_error');
      for (const [p, ops] of Object.entries<Json>(doc.paths)) {
        for (const m of Object.keys(ops)) {
          assert.deepEqual(checker.problems({ method: m.toUpperCase(), path: p, status: 500, headers: r.headers, text: r.text }, p), [], `${m} ${p}`);
        }
      }
    } finally {
      await local.close();
    }
  });
});

describe('coverage: complete', () => {
  it('every documented status and every documented reason of every operation was reached above', () => {
    const missing: string[] = [];
    for (const [p, ops] of Object.entries<Json>(doc.paths)) {
      for (const [m, op] of Object.entries<Json>(ops)) {
        for (const [status, res] of Object.entries<Json>(op.responses)) {
          const key = opKey(m, p, status);
          if (UNREACHED.some(([re]) => re.test(key))) continue;
          if (!reached.has(key)) missing.push(key);
          for (const reason of documentedReasons(res)) if (!reached.has(`${key} ${reason}`)) missing.push(`${key} ${reason}`);
        }
      }
    }
    assert.deepEqual(missing, [], 'documented but never driven: drive them above, or, if no test can reach one, list it in UNREACHED with the reason');
  });
});
