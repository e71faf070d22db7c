/**
 * TEST DOUBLE of the Latchkey HTTP contract (DESIGN.md "HTTP API (v1)"), for client tests
 * while the real server is being built. It is NOT the server: in-memory, HMAC-signed
 * stand-in tokens, no password hashing worth the name. What it does reproduce faithfully is
 * the behaviour the client depends on:
 *  - refresh rotation by generation, with a grace window in which the immediate predecessor
 *    gets the SAME successor refresh token (and a fresh access token);
 *  - reuse of any older token revokes the whole session and answers invalid_grant with
 *    reason `refresh_token_reused` ("refresh token reuse detected; session revoked");
 *  - Bearer failures (expired, revoked, tampered) answer 401 with
 *    `WWW-Authenticate: Bearer error="invalid_token"` and `{error, error_description}`;
 *  - 409 email_taken, 401 invalid_credentials, 429 + Retry-After, 503 temporarily_unavailable.
 * Its clock (`now()`) can be moved forward to expire things without waiting.
 */
import { createHmac, createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const REUSE_DESCRIPTION = 'refresh token reuse detected; session revoked';

export interface FakeAuthServerOptions {
  accessTtlSec?: number;
  /** LATCHKEY_REUSE_GRACE; 0 = strict. */
  graceSec?: number;
  sessionTtlSec?: number;
  clients?: string[];
  maxFailedLogins?: number;
}

interface FakeUser {
  id: string;
  email: string;
  passwordHash: string;
  createdAt: string;
}

export interface FakeSession {
  id: string;
  userId: string;
  clientId: string;
  generation: number;
  rotatedAt: number;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
  device: string;
  revoked: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  /** For /auth/token: generation presented; for Bearer routes: session id. */
  detail?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string,
    readonly headers: Record<string, string> = {},
    /** The stable reason the real server sends beside the code (@latchkey/core REASONS). */
    readonly reason?: string,
  ) {
    super(description);
  }
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export class FakeAuthServer {
  url = '';
  accessTtlSec: number;
  graceSec: number;
  sessionTtlSec: number;
  clockOffsetMs = 0;
  /** Every API route refuses every access token, even fresh ones (models an API that never accepts us). */
  rejectAllAccessTokens = false;
  /** /auth/token answers 503, as when a store is down. */
  tokenEndpointUnavailable = false;
  /** Awaited inside /auth/token before the rotation decision; lets a test interleave other requests. */
  beforeRefresh: ((presented: { sessionId: string; generation: number }) => Promise<void> | void) | undefined;

  readonly users = new Map<string, FakeUser>();
  readonly sessions = new Map<string, FakeSession>();
  readonly requests: RecordedRequest[] = [];
  readonly stats = { refresh: 0, reuseDetected: 0, graceReplays: 0, invalidToken401: 0, apiCalls: 0 };

  readonly #clients: string[];
  readonly #maxFailedLogins: number;
  readonly #failedLogins = new Map<string, number>();
  readonly #secret = Buffer.from(randomUUID());
  #server: Server | undefined;

  constructor(options: FakeAuthServerOptions = {}) {
    this.accessTtlSec = options.accessTtlSec ?? 300;
    this.graceSec = options.graceSec ?? 10;
    this.sessionTtlSec = options.sessionTtlSec ?? 30 * 24 * 3600;
    this.#clients = options.clients ?? ['app'];
    this.#maxFailedLogins = options.maxFailedLogins ?? 5;
  }

  static async start(options: FakeAuthServerOptions = {}): Promise<FakeAuthServer> {
    const fake = new FakeAuthServer(options);
    const server = createServer((req, res) => void fake.#handle(req, res));
    fake.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  advance(ms: number): void {
    this.clockOffsetMs += ms;
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  /** Ends a session as if from another device (DELETE /auth/sessions/:id elsewhere). */
  revokeSession(id: string): void {
    const session = this.sessions.get(id);
    if (session) session.revoked = true;
  }

  expireSession(id: string): void {
    const session = this.sessions.get(id);
    if (session) session.expiresAt = this.now() - 1;
  }

  /** The token a client holding generation `generation` of `sessionId` would have. */
  refreshTokenFor(sessionId: string, generation: number): string {
    const body = `${sessionId}.${generation}`;
    return b64url(`${body}.${createHmac('sha256', this.#secret).update(body).digest('base64url')}`);
  }

  // ---- request handling -------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, status: 0 };
    this.requests.push(record);
    const reply = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, body === undefined ? headers : { 'content-type': 'application/json', ...headers });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    try {
      const result = await this.#route(req, url, record);
      reply(result.status, result.body, result.headers);
    } catch (error) {
      if (error instanceof HttpError) {
        reply(error.status, { error: error.code, error_description: error.message, ...(error.reason ? { reason: error.reason } : {}) }, error.headers);
      } else {
        reply(500, { error: 'server_error', error_description: 'internal error' });
      }
    }
  }

  async #route(
    req: IncomingMessage,
    url: URL,
    record: RecordedRequest,
  ): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const route = `${req.method} ${url.pathname}`;
    const noStore = { 'cache-control': 'no-store' };
    switch (route) {
      case 'POST /auth/signup':
        return { status: 201, body: this.#signup(await readBody(req), req), headers: noStore };
      case 'POST /auth/login':
        return { status: 200, body: this.#login(await readBody(req), req), headers: noStore };
      case 'POST /auth/token':
        return { status: 200, body: await this.#refresh(await readBody(req), record), headers: noStore };
      case 'POST /auth/revoke': {
        const { token } = await readBody(req);
        const parsed = typeof token === 'string' ? this.#parseRefreshToken(token) : undefined;
        const session = parsed && this.sessions.get(parsed.sessionId);
        if (session) session.revoked = true;
        return { status: 200 };
      }
    }

    // Everything below needs a Bearer token.
    const session = this.#authenticate(req, record);
    const user = [...this.users.values()].find((u) => u.id === session.userId);
    if (!user) throw new HttpError(401, 'invalid_token', 'unknown user', bearerChallenge('unknown user'));
    switch (route) {
      case 'POST /auth/logout':
        session.revoked = true;
        return { status: 204 };
      case 'GET /auth/me':
        return { status: 200, body: { user: publicUser(user) } };
      case 'GET /auth/sessions':
        return {
          status: 200,
          body: {
            sessions: [...this.sessions.values()]
              .filter((s) => s.userId === user.id && !s.revoked && s.expiresAt > this.now())
              .map((s) => ({
                id: s.id,
                createdAt: new Date(s.createdAt).toISOString(),
                lastUsedAt: new Date(s.lastUsedAt).toISOString(),
                device: s.device,
                current: s.id === session.id,
              })),
          },
        };
      case 'DELETE /auth/sessions': {
        const others = url.searchParams.get('others') === 'true';
        for (const s of this.sessions.values()) {
          if (s.userId === user.id && (!others || s.id !== session.id)) s.revoked = true;
        }
        return { status: 204 };
      }
      case 'GET /api/data':
        this.stats.apiCalls++;
        return { status: 200, body: { ok: true, sid: session.id, jti: record.detail } };
      case 'POST /api/echo':
        this.stats.apiCalls++;
        return { status: 200, body: { ok: true, echo: await readBody(req) } };
    }
    const match = /^DELETE \/auth\/sessions\/([^/]+)$/.exec(route);
    if (match) {
      const target = this.sessions.get(decodeURIComponent(match[1]!));
      if (!target || target.userId !== user.id) throw new HttpError(404, 'not_found', 'no such session');
      target.revoked = true;
      return { status: 204 };
    }
    throw new HttpError(404, 'not_found', 'no such route');
  }

  #signup(body: Record<string, unknown>, req: IncomingMessage) {
    const { email, password } = checkCredentials(body);
    const clientId = this.#clientId(body);
    if (this.users.has(email)) throw new HttpError(409, 'email_taken', 'an account with this email already exists');
    const user: FakeUser = { id: randomUUID(), email, passwordHash: hash(password), createdAt: new Date().toISOString() };
    this.users.set(email, user);
    return { user: publicUser(user), ...this.#newSession(user, clientId, req) };
  }

  #login(body: Record<string, unknown>, req: IncomingMessage) {
    const { email, password } = checkCredentials(body);
    const clientId = this.#clientId(body);
    const failures = this.#failedLogins.get(email) ?? 0;
    if (failures >= this.#maxFailedLogins) {
      throw new HttpError(429, 'rate_limited', 'too many failed attempts', { 'retry-after': '60' });
    }
    const user = this.users.get(email);
    if (!user || !safeEqual(user.passwordHash, hash(password))) {
      this.#failedLogins.set(email, failures + 1);
      throw new HttpError(401, 'invalid_credentials', 'email or password is incorrect');
    }
    this.#failedLogins.delete(email);
    return this.#newSession(user, clientId, req);
  }

  async #refresh(body: Record<string, unknown>, record: RecordedRequest) {
    this.stats.refresh++;
    if (this.tokenEndpointUnavailable) {
      throw new HttpError(503, 'temporarily_unavailable', 'session store unavailable', { 'retry-after': '1' });
    }
    if (body['grant_type'] !== 'refresh_token') {
      throw new HttpError(400, 'unsupported_grant_type', 'only refresh_token is supported');
    }
    const token = body['refresh_token'];
    if (typeof token !== 'string' || token === '') throw new HttpError(400, 'invalid_request', 'refresh_token is required');
    const presented = this.#parseRefreshToken(token);
    if (!presented) throw new HttpError(400, 'invalid_grant', 'malformed or forged refresh token', {}, 'refresh_token_invalid');
    record.detail = String(presented.generation);
    await this.beforeRefresh?.(presented);

    const session = this.sessions.get(presented.sessionId);
    const now = this.now();
    if (!session) throw new HttpError(400, 'invalid_grant', 'unknown session', {}, 'session_ended');
    if (session.clientId !== this.#clientId(body)) throw new HttpError(400, 'invalid_grant', 'token issued to another client', {}, 'client_mismatch');
    if (session.revoked) throw new HttpError(400, 'invalid_grant', 'session revoked', {}, 'session_ended');
    if (session.expiresAt <= now) throw new HttpError(400, 'invalid_grant', 'session expired', {}, 'session_expired');

    const g = presented.generation;
    const n = session.generation;
    if (g === n) {
      session.generation = n + 1;
      session.rotatedAt = now;
    } else if (g === n - 1 && now - session.rotatedAt <= this.graceSec * 1000) {
      this.stats.graceReplays++; // same successor, no fork
    } else if (g < n) {
      session.revoked = true;
      this.stats.reuseDetected++;
      throw new HttpError(400, 'invalid_grant', REUSE_DESCRIPTION, {}, 'refresh_token_reused');
    } else {
      throw new HttpError(400, 'invalid_grant', 'refresh token generation from the future', {}, 'refresh_token_invalid');
    }
    session.lastUsedAt = now;
    return this.#tokenResponse(session);
  }

  #newSession(user: FakeUser, clientId: string, req: IncomingMessage) {
    const now = this.now();
    const session: FakeSession = {
      id: randomUUID(),
      userId: user.id,
      clientId,
      generation: 0,
      rotatedAt: now,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: now + this.sessionTtlSec * 1000,
      device: (req.headers['user-agent'] ?? 'unknown').slice(0, 64),
      revoked: false,
    };
    this.sessions.set(session.id, session);
    return this.#tokenResponse(session);
  }

  #tokenResponse(session: FakeSession) {
    return {
      access_token: this.#signAccessToken(session),
      token_type: 'Bearer',
      expires_in: this.accessTtlSec,
      refresh_token: this.refreshTokenFor(session.id, session.generation),
    };
  }

  #signAccessToken(session: FakeSession): string {
    const iat = Math.floor(this.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: 'fake' }));
    const claims = {
      iss: this.url,
      aud: this.url,
      sub: session.userId,
      client_id: session.clientId,
      sid: session.id,
      jti: randomUUID(),
      iat,
      exp: iat + this.accessTtlSec,
    };
    const payload = b64url(JSON.stringify(claims));
    return `${header}.${payload}.${createHmac('sha256', this.#secret).update(`${header}.${payload}`).digest('base64url')}`;
  }

  #authenticate(req: IncomingMessage, record: RecordedRequest): FakeSession {
    const refuse = (description: string): never => {
      this.stats.invalidToken401++;
      throw new HttpError(401, 'invalid_token', description, bearerChallenge(description));
    };
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!match) {
      // RFC 6750 §3.1: no error code when the request carried no token at all.
      throw new HttpError(401, 'invalid_request', 'missing bearer token', { 'www-authenticate': 'Bearer realm="latchkey"' });
    }
    const token = match[1]!;
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || !signature) return refuse('malformed token');
    const expected = createHmac('sha256', this.#secret).update(`${header}.${payload}`).digest('base64url');
    if (!safeEqual(signature, expected)) return refuse('bad signature');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sid: string; exp: number; jti: string };
    if (claims.exp * 1000 <= this.now()) return refuse('token expired');
    const session = this.sessions.get(claims.sid);
    if (!session || session.revoked) return refuse('session revoked');
    if (this.rejectAllAccessTokens) return refuse('token not accepted');
    record.detail = claims.jti;
    return session;
  }

  #parseRefreshToken(token: string): { sessionId: string; generation: number } | undefined {
    const decoded = Buffer.from(token, 'base64url').toString();
    const [sessionId, generation, mac] = decoded.split('.');
    if (!sessionId || !generation || !mac || !/^\d+$/.test(generation)) return undefined;
    const expected = createHmac('sha256', this.#secret).update(`${sessionId}.${generation}`).digest('base64url');
    return safeEqual(mac, expected) ? { sessionId, generation: Number(generation) } : undefined;
  }

  #clientId(body: Record<string, unknown>): string {
    const clientId = body['client_id'] ?? this.#clients[0];
    if (typeof clientId !== 'string' || !this.#clients.includes(clientId)) {
      throw new HttpError(400, 'invalid_client', 'unknown client_id');
    }
    return clientId;
  }
}

function bearerChallenge(description: string): Record<string, string> {
  return { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` };
}

function publicUser(user: FakeUser) {
  return { id: user.id, email: user.email, createdAt: user.createdAt };
}

function checkCredentials(body: Record<string, unknown>): { email: string; password: string } {
  const { email, password } = body;
  if (typeof email !== 'string' || !email.includes('@') || email.length > 254) {
    throw new HttpError(400, 'invalid_request', 'email must be an address of at most 254 characters');
  }
  if (typeof password !== 'string' || password.length < 8 || password.length > 1024) {
    throw new HttpError(400, 'invalid_request', 'password must be 8 to 1024 characters');
  }
  return { email: email.toLowerCase(), password };
}

function hash(password: string): string {
  return createHash('sha256').update(password).digest('hex');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const MAX_BODY_BYTES = 64 * 1024;

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'invalid_request', 'body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString();
  if (text === '') return {};
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'invalid_request', 'body must be a JSON object or a form');
}
