/**
 * TEST DOUBLE of the server's DPoP wire contract (common brief, "Wire contract"), for the client's
 * DPoP tests until they can run against the real server too. Every proof it receives is checked by
 * core's `verifyDpopProof`, the checker the real server and @latchkey/verify share, so a proof the
 * client gets wrong fails here as it would there. What it reproduces:
 *  - login with a proof binds (token_type "DPoP"), without one it is Bearer;
 *  - nonces on login and /auth/token: a proof without the current nonce gets 400 use_dpop_nonce
 *    with `DPoP-Nonce`; successful answers carry a fresh nonce;
 *  - a bound refresh needs a proof by the bound key, else 400 invalid_grant `dpop_key_mismatch`
 *    and the session is revoked;
 *  - GET /api/data (a resource route): bound token only as `DPoP` + proof with `ath`; optionally a
 *    resource-server nonce challenge (401, `WWW-Authenticate: DPoP error="use_dpop_nonce"`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DpopError, dpopChallenge, verifyDpopProof, type VerifiedProof } from '../../packages/core/src/index.js';

export interface DoubleOptions {
  /** Nonces on login and /auth/token (default true). */
  authNonces?: boolean;
  /** Answer token_type "DPoP" to a proof (default true); false models a server with DPoP off. */
  bind?: boolean;
  /** The resource route asks for a nonce: never (default), or always (a server that keeps asking). */
  resourceNonce?: 'never' | 'required' | 'always';
  /** How far this server's clock is ahead of the real one (its `Date` header says the same). */
  clockOffsetMs?: number;
  /** A page served at `/` and its script at `/app.js`, so a browser test runs on the double's own origin. */
  page?: { js: string };
}

export interface Seen {
  method: string;
  path: string;
  status: number;
  /** The Authorization scheme sent, if any. */
  scheme?: string;
  /** The raw proof, when one came. */
  proof?: string;
  verified?: VerifiedProof;
  refused?: string;
  nonce?: string;
}

interface Session {
  jkt: string | null;
  refreshToken: string;
  accessToken: string;
  revoked: boolean;
  /** Why it was revoked, repeated to every later refresh (the real server may say `session_ended`). */
  revokedReason?: string;
}

const token = (prefix: string) => `${prefix}-${randomBytes(18).toString('base64url')}`;

export async function startDpopDouble(options: DoubleOptions = {}) {
  const authNonces = options.authNonces ?? true;
  const bind = options.bind ?? true;
  const resourceNonce = options.resourceNonce ?? 'never';
  const now = () => Date.now() + (options.clockOffsetMs ?? 0);
  let authNonce = token('n');
  const resourceNonceValue = token('rn');
  const sessions: Session[] = [];
  const seen: Seen[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function check(req: IncomingMessage, path: string, entry: Seen, extra: { accessToken?: string; nonce?: string }): VerifiedProof | DpopError | null {
    const proof = req.headers['dpop'];
    if (proof === undefined) return null;
    entry.proof = String(proof);
    try {
      const payload = JSON.parse(Buffer.from(String(proof).split('.')[1] ?? '', 'base64url').toString('utf8')) as { nonce?: string };
      if (payload.nonce !== undefined) entry.nonce = payload.nonce;
    } catch {
      /* verifyDpopProof will say */
    }
    try {
      const expected = extra.nonce;
      const verified = verifyDpopProof(String(proof), {
        htm: req.method!,
        htu: `${url}${path}`,
        maxAgeSec: 60,
        leewaySec: 5,
        now,
        ...(extra.accessToken !== undefined ? { accessToken: extra.accessToken } : {}),
        ...(expected !== undefined ? { nonceValid: (n: string) => n === expected } : {}),
      });
      entry.verified = verified;
      return verified;
    } catch (error) {
      if (!(error instanceof DpopError)) throw error;
      entry.refused = error.reason;
      return error;
    }
  }

  function reply(res: ServerResponse, entry: Seen, status: number, body: unknown, headers: Record<string, string> = {}) {
    entry.status = status;
    res.setHeader('date', new Date(now()).toUTCString());
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  }

  function issue(res: ServerResponse, entry: Seen, session: Session, status: number) {
    session.accessToken = token('at');
    session.refreshToken = token('rt');
    if (authNonces) authNonce = token('n');
    reply(
      res,
      entry,
      status,
      {
        access_token: session.accessToken,
        refresh_token: session.refreshToken,
        expires_in: 300,
        token_type: session.jkt ? 'DPoP' : 'Bearer',
        user: { id: 'u1', email: 'someone@example.com', createdAt: new Date(0).toISOString() },
      },
      authNonces ? { 'dpop-nonce': authNonce } : {},
    );
  }

  function authProof(req: IncomingMessage, res: ServerResponse, path: string, entry: Seen): VerifiedProof | null | 'answered' {
    const result = check(req, path, entry, authNonces ? { nonce: authNonce } : {});
    if (result instanceof DpopError) {
      if (result.reason === 'use_nonce') {
        reply(res, entry, 400, { error: 'use_dpop_nonce', reason: 'dpop_nonce_required' }, { 'dpop-nonce': authNonce });
      } else {
        reply(res, entry, 400, { error: 'invalid_dpop_proof', reason: 'dpop_proof_invalid' });
      }
      return 'answered';
    }
    return result;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0]!;
    const entry: Seen = { method: req.method!, path, status: 0 };
    const auth = req.headers.authorization;
    if (auth) entry.scheme = auth.split(' ')[0];
    seen.push(entry);

    if (req.method === 'POST' && (path === '/auth/login' || path === '/auth/signup')) {
      const proof = authProof(req, res, path, entry);
      if (proof === 'answered') return;
      const session: Session = { jkt: proof && bind ? proof.jkt : null, refreshToken: '', accessToken: '', revoked: false };
      sessions.push(session);
      return issue(res, entry, session, path === '/auth/signup' ? 201 : 200);
    }
    if (req.method === 'POST' && path === '/auth/token') {
      const form = new URLSearchParams(raw);
      const session = sessions.find((s) => s.refreshToken === form.get('refresh_token'));
      if (!session || session.revoked) return reply(res, entry, 400, { error: 'invalid_grant', reason: session?.revokedReason ?? 'session_ended' });
      const proof = authProof(req, res, path, entry);
      if (proof === 'answered') return;
      if (session.jkt !== null && proof?.jkt !== session.jkt) {
        session.revoked = true;
        session.revokedReason = 'dpop_key_mismatch';
        return reply(res, entry, 400, { error: 'invalid_grant', reason: 'dpop_key_mismatch' });
      }
      return issue(res, entry, session, 200);
    }
    if (path === '/api/data' || path === '/auth/logout') {
      const [scheme, value] = (auth ?? '').split(' ');
      const session = sessions.find((s) => s.accessToken === value && !s.revoked);
      if (!session) return reply(res, entry, 401, { error: 'invalid_token' }, { 'www-authenticate': dpopChallenge('invalid_token') });
      if (session.jkt === null) {
        if (scheme !== 'Bearer') return reply(res, entry, 401, { error: 'invalid_token' }, { 'www-authenticate': dpopChallenge('invalid_token') });
      } else {
        if (scheme !== 'DPoP') return reply(res, entry, 401, { error: 'invalid_token', reason: 'access_token_bound' }, { 'www-authenticate': dpopChallenge('invalid_token') });
        const wantNonce = resourceNonce === 'never' ? undefined : resourceNonceValue;
        const proof = check(req, path, entry, { accessToken: value!, ...(wantNonce ? { nonce: wantNonce } : {}) });
        const askNonce = resourceNonce === 'always' || (proof instanceof DpopError && proof.reason === 'use_nonce');
        if (askNonce) {
          return reply(res, entry, 401, { error: 'use_dpop_nonce' }, { 'www-authenticate': dpopChallenge('use_dpop_nonce'), 'dpop-nonce': resourceNonceValue });
        }
        if (proof === null || proof instanceof DpopError || proof.jkt !== session.jkt) {
          return reply(res, entry, 401, { error: 'invalid_dpop_proof', reason: 'dpop_proof_invalid' }, { 'www-authenticate': dpopChallenge('invalid_dpop_proof') });
        }
      }
      if (path === '/auth/logout') session.revoked = true;
      return reply(res, entry, 200, { ok: true, path });
    }
    if (options.page && req.method === 'GET' && (path === '/' || path === '/app.js')) {
      entry.status = 200;
      res.setHeader('content-type', path === '/' ? 'text/html' : 'text/javascript');
      res.end(path === '/' ? '<!doctype html><meta charset="utf-8"><title>app</title><script type="module" src="/app.js"></script>' : options.page.js);
      return;
    }
    reply(res, entry, 404, { error: 'not_found' });
  }

  return {
    url,
    seen,
    sessions,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
