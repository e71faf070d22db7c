// Express/Connect adapter, written against node:http types only (no express dependency): a
// `(req, res, next)` middleware that sets `req.auth` or answers per RFC 6750 / RFC 9449 §7.1.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { toRfc6750, VerifyError, type Rfc6750Response } from './errors.js';
import { checkPublicUrl, publicRequestUrl } from './request-url.js';
import type { VerifiedClaims, Verifier } from './verifier.js';

export interface LatchkeyExpressOptions {
  verifier: Verifier;
  /** RFC 6750 §3 realm in the challenge. */
  realm?: string;
  /**
   * The API's public base URL (e.g. `https://api.example.com`, or with a path prefix), which DPoP
   * proofs name in `htu`. Set it behind a proxy. Default: the request's own protocol (TLS on the
   * socket or not) and Host header, which trusts Host; X-Forwarded-* are never read.
   */
  publicUrl?: string;
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
  const publicUrl = checkPublicUrl(opts.publicUrl, 'latchkeyExpress');
  return (req, res, next) => {
    // Express strips a mount path from req.url; the proof names the whole path.
    const target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const protocol = (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http';
    const request = {
      authorization: req.headers.authorization,
      dpop: req.headers.dpop,
      method: req.method ?? 'GET',
      url: publicRequestUrl(publicUrl, protocol, req.headers.host, target),
    };
    verifier.verifyRequest(request).then(
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
