// Which browser origins may use the API (issue 12 item 5, ASVS 5.0 V3.5). CORS headers go to the
// server's own origin and to LATCHKEY_CORS_ORIGINS only (RFC 6454 origins, exact match). CORS
// alone does not stop a foreign page from *sending* a login or sign-up: a form-encoded POST needs
// no preflight, and the browser delivers it, hiding only the answer. So the credential and
// account endpoints also refuse any request whose Origin header is neither ours nor listed
// (ASVS V3.5.1, the anti-CSRF check on an Origin header). Requests without Origin (servers, apps,
// curl) pass: a browser always sends one on a cross-origin POST, and on every fetch with CORS.
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { Errors } from '../domain/errors.js';

/** The origin a browser used to reach this server, from the request itself (Host and scheme). */
function ownOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

/** Whether a request's Origin may use the API: the server's own (as reached, or its issuer's) or a listed one. */
export function originPolicy(config: Config): (req: FastifyRequest, origin: string) => boolean {
  const listed = new Set([new URL(config.issuer).origin, ...config.corsOrigins]);
  return (req, origin) => listed.has(origin) || origin === ownOrigin(req);
}

export async function registerCors(app: FastifyInstance, config: Config): Promise<void> {
  const allowed = originPolicy(config);
  await app.register(cors, {
    // Per request: the own origin depends on the Host the browser used.
    delegator: (req, cb) => {
      const origin = req.headers.origin;
      cb(null, {
        origin: typeof origin === 'string' && allowed(req as FastifyRequest, origin),
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['Authorization', 'Content-Type', 'DPoP'],
        // What the client library reads: Bearer challenges, rate-limit and outage hints, DPoP nonces,
        // and the server's clock (a device clock minutes off would make every DPoP proof stale).
        exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'DPoP-Nonce', 'Date'],
        credentials: false,
        maxAge: 600,
        strictPreflight: true,
      });
    },
  });
}

/** onRequest hook for the credential and account routes: a foreign Origin is a 403. */
export function sameOriginOrListed(config: Config) {
  const allowed = originPolicy(config);
  return (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    const origin = req.headers.origin;
    if (origin === undefined || allowed(req, origin)) return done();
    done(Errors.originNotAllowed());
  };
}
