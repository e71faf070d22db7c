import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticateRequest } from '../auth/authenticate.js';
import { dpopRequest } from './dpop-request.js';
import type { AuthContext } from '../auth/context.js';
import type { AccessTokenClaims } from '@latchkey/core';
import { sendMissingBearer } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    claims: AccessTokenClaims | null;
  }
}

const SCHEME = /^(Bearer|DPoP) +(.*)$/i;

/**
 * RFC 6750 §2.1 / RFC 9449 §7.1: only the Authorization header (tokens in query strings or bodies
 * are not accepted), with the Bearer scheme or, for a DPoP-bound token, the DPoP scheme.
 */
export function bearerGuard(ctx: AuthContext) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? SCHEME.exec(header) : null;
    if (!m) return sendMissingBearer(reply, ctx.config.dpop !== 'off');
    req.claims = await authenticateRequest(ctx, m[1]!.toLowerCase() as 'bearer' | 'dpop', m[2]!.trim(), dpopRequest(req));
  };
}

export function claimsOf(req: FastifyRequest): AccessTokenClaims {
  if (!req.claims) throw new Error('route is missing bearerGuard');
  return req.claims;
}
