import type { FastifyRequest } from 'fastify';
import type { DpopRequest } from '../auth/dpop.js';

/** The request's DPoP proof and request line, for the use cases to check (RFC 9449 §4.3). */
export function dpopRequest(req: FastifyRequest): DpopRequest {
  const h = req.headers.dpop;
  // Node joins repeated unknown headers with ', '; a joined value is not a JWS and is refused.
  return { proof: Array.isArray(h) ? h.join(',') : h, method: req.method, path: req.url };
}
