import type { FastifyInstance } from 'fastify';
import { DPOP_ALGS } from '@latchkey/core';
import type { AuthContext } from '../../auth/context.js';
import { jwksResponses, metadataResponses } from '../schemas.js';

const jwksSchema = { tags: ['discovery'], operationId: 'jwks', summary: 'Public keys (JWK Set)', response: jwksResponses };
const metadataSchema = { tags: ['discovery'], operationId: 'metadata', summary: 'RFC 8414 authorization server metadata', response: metadataResponses };

export function wellKnownRoutes(app: FastifyInstance, ctx: AuthContext): void {
  // Endpoints at the URL clients call: a DPoP client takes a proof's `htu` from here (RFC 9449 §4.2).
  const base = ctx.config.publicUrl.replace(/\/$/, '');

  app.get('/.well-known/jwks.json', { schema: jwksSchema }, async (_req, reply) => {
    // Short cache: verifiers refetch on an unknown kid anyway, and rotation must show up soon.
    reply.header('Cache-Control', 'public, max-age=60');
    return ctx.keys.jwks();
  });

  // RFC 8414 §2 authorization server metadata.
  app.get('/.well-known/oauth-authorization-server', { schema: metadataSchema }, async (_req, reply) => {
    reply.header('Cache-Control', 'public, max-age=300');
    return {
      issuer: ctx.config.issuer,
      token_endpoint: `${base}/auth/token`,
      revocation_endpoint: `${base}/auth/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: ['refresh_token'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      // Latchkey extensions, for client libraries.
      login_endpoint: `${base}/auth/login`,
      signup_endpoint: `${base}/auth/signup`,
      sessions_endpoint: `${base}/auth/sessions`,
      access_token_signing_alg_values_supported: [ctx.config.alg],
      ...(ctx.config.dpop === 'off' ? {} : { dpop_signing_alg_values_supported: [...DPOP_ALGS] }),
    };
  });
}
