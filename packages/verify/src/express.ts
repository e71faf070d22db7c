// Express/Connect adapter, written against node:http types only (no express dependency): a
// `(req, res, next)` middleware that sets `req.auth` or answers per RFC 6750.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerTokenFrom, toRfc6750, VerifyError, type Rfc6750Response } from './errors.js';
import type { VerifiedClaims, Verifier } from './verifier.js';

export interface LatchkeyExpressOptions {
  verifier: Verifier;
  /** RFC 6750 §3 realm in the challenge. */
  realm?: string;
}

export type AuthenticatedRequest = IncomingMessage & { auth?: VerifiedClaims };

export type Middleware = (req: AuthenticatedRequest, res: ServerResponse, next: (err?: unknown) => void) => void;

function send(res: ServerResponse, r: Rfc6750Response): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(r.body);
  res.statusCode = r.status;
  for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export function latchkeyExpress(opts: LatchkeyExpressOptions): Middleware {
  const { verifier, realm } = opts;
  toRfc6750(new VerifyError('invalid_token', 'malformed'), { realm }); // a bad realm fails at setup, not per request
  return (req, res, next) => {
    const token = bearerTokenFrom(req.headers.authorization);
    if (token === null) {
      send(res, toRfc6750(new VerifyError('invalid_token', 'missing_token'), { realm }));
      return;
    }
    verifier.verify(token).then(
      (claims) => {
        req.auth = claims;
        next();
      },
      (e: unknown) => {
        if (e instanceof VerifyError) send(res, toRfc6750(e, { realm }));
        else next(e);
      },
    );
  };
}
