// Account lifecycle routes (issue 10): parsing and answers only; the use cases live in auth/.
import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../../auth/context.js';
import { resendVerification, verifyEmail } from '../../auth/email-verification.js';
import { bearerGuard, claimsOf } from '../bearer.js';
import { BEARER_SECURITY } from '../openapi.js';
import { resendVerificationResponses, verifyEmailBody, verifyEmailResponses } from '../schemas.js';

const consumes = ['application/json', 'application/x-www-form-urlencoded'];
const tags = ['account lifecycle'];

const verifySchema = {
  tags,
  operationId: 'verifyEmail',
  summary: 'Confirm an address with the token of the emailed link',
  description: 'The link (LATCHKEY_APP_URL + `verify-email?token=…`) carries the token; the page posts it here. A token works once, for 24 hours, and only the newest link works.',
  consumes,
  body: verifyEmailBody,
  response: verifyEmailResponses,
};
const resendSchema = {
  tags,
  security: BEARER_SECURITY,
  operationId: 'resendVerification',
  summary: 'Send a new verification link to the caller’s address',
  response: resendVerificationResponses,
};

export function lifecycleRoutes(app: FastifyInstance, ctx: AuthContext): void {
  const guard = { onRequest: bearerGuard(ctx) };

  app.post<{ Body: { token: string } }>('/auth/email/verify', { schema: verifySchema }, async (req, reply) => {
    await verifyEmail(ctx, req.body.token);
    return reply.code(204).send();
  });

  app.post('/auth/email/verify/resend', { ...guard, schema: resendSchema }, async (req, reply) => {
    await resendVerification(ctx, claimsOf(req).sub);
    return reply.code(202).send({});
  });
}
