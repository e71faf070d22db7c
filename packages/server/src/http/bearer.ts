import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticate } from '../auth/authenticate.js';
import type { AuthContext } from '../auth/context.js';
import type { AccessTokenClaims } from '@latchkey/core';
import { sendMissingBearer } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    claims: AccessTokenClaims | null;
  }
}

/** RFC 6750 §2.1: only the Authorization header; tokens in query strings or bodies are not accepted. */
export function bearerGuard(ctx: AuthContext) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !/^bearer /i.test(header)) return sendMissingBearer(reply);
    req.claims = authenticate(ctx, header.slice(7).trim());
  };
}

export function claimsOf(req: FastifyRequest): AccessTokenClaims {
  if (!req.claims) throw new Error('route is missing bearerGuard');
  return req.claims;
}
