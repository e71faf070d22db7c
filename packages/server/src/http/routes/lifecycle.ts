// Account lifecycle routes (issue 10): parsing and answers only; the use cases live in auth/.
import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../../auth/context.js';
import { resendVerification, verifyEmail } from '../../auth/email-verification.js';
import { forgotPassword, resetPassword } from '../../auth/password-reset.js';
import { changePassword, deleteAccount, requestEmailChange } from '../../auth/account.js';
import { bearerGuard, claimsOf } from '../bearer.js';
import { BEARER_SECURITY } from '../openapi.js';
import {
  changeEmailBody,
  changeEmailResponses,
  changePasswordBody,
  changePasswordResponses,
  deleteAccountBody,
  deleteAccountResponses,
  forgotPasswordBody,
  forgotPasswordResponses,
  resendVerificationResponses,
  resetPasswordBody,
  resetPasswordResponses,
  verifyEmailBody,
  verifyEmailResponses,
} from '../schemas.js';

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

const forgotSchema = {
  tags,
  operationId: 'forgotPassword',
  summary: 'Ask for a password reset link',
  description: 'Answers 202 whatever the address. The link (LATCHKEY_APP_URL + `reset-password?token=…`) works once, for 30 minutes; a newer request or any password change kills it.',
  consumes,
  body: forgotPasswordBody,
  response: forgotPasswordResponses,
};
const resetSchema = {
  tags,
  operationId: 'resetPassword',
  summary: 'Set a new password with the token of a reset link',
  description: 'Every session of the account ends (its access tokens are refused at once on every instance); a notice goes to the address.',
  consumes,
  body: resetPasswordBody,
  response: resetPasswordResponses,
};

const bearerDoc = { tags, security: BEARER_SECURITY, consumes };
const changePasswordSchema = {
  ...bearerDoc,
  operationId: 'changePassword',
  summary: 'Change the password (the current one is asked again)',
  description: 'Every other session of the account ends (their access tokens are refused at once); the caller’s stays. A wrong current password counts toward the login throttle.',
  body: changePasswordBody,
  response: changePasswordResponses,
};
const changeEmailSchema = {
  ...bearerDoc,
  operationId: 'changeEmail',
  summary: 'Change the address: confirmed by a link sent to the new one',
  body: changeEmailBody,
  response: changeEmailResponses,
};
const deleteAccountSchema = {
  ...bearerDoc,
  operationId: 'deleteAccount',
  summary: 'Delete the account (the password is asked again)',
  body: deleteAccountBody,
  response: deleteAccountResponses,
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

  app.post<{ Body: { current_password: string; new_password: string } }>('/auth/password', { ...guard, schema: changePasswordSchema }, async (req, reply) => {
    const c = claimsOf(req);
    await changePassword(ctx, c.sub, c.sid, req.body, req.ip);
    return reply.code(204).send();
  });

  app.post<{ Body: { new_email: string; password: string } }>('/auth/email', { ...guard, schema: changeEmailSchema }, async (req, reply) => {
    await requestEmailChange(ctx, claimsOf(req).sub, req.body, req.ip);
    return reply.code(202).send({});
  });

  app.delete<{ Body: { password: string } }>('/auth/me', { ...guard, schema: deleteAccountSchema }, async (req, reply) => {
    await deleteAccount(ctx, claimsOf(req).sub, req.body.password, req.ip);
    return reply.code(204).send();
  });

  app.post<{ Body: { email: string } }>('/auth/password/forgot', { schema: forgotSchema }, async (req, reply) => {
    await forgotPassword(ctx, req.body.email, req.ip);
    return reply.code(202).send({});
  });

  app.post<{ Body: { token: string; password: string } }>('/auth/password/reset', { schema: resetSchema }, async (req, reply) => {
    await resetPassword(ctx, req.body.token, req.body.password);
    return reply.code(204).send();
  });
}
