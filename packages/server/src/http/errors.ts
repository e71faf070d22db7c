// Maps every failure to a fixed public error body: RFC 6749 §5.2 codes on the token endpoint,
// RFC 6750 §3 on Bearer routes. Internals (messages, stacks) go to the log only.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { dpopChallenge, type Reason } from '@latchkey/core';
import { AuthError, DESCRIPTIONS, StoreUnavailableError, type ErrorCode } from '../domain/errors.js';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_grant: 400,
  invalid_client: 400,
  unsupported_grant_type: 400,
  invalid_token: 401,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  invalid_credentials: 401,
  email_taken: 409,
  not_found: 404,
  rate_limited: 429,
  access_denied: 403,
  temporarily_unavailable: 503,
  server_error: 500,
};

export const REALM = 'latchkey';

/** The one public error body: RFC 6749 §5.2 / RFC 6750 §3 `error`, prose, and the stable `reason`. */
export interface ErrorBody {
  error: ErrorCode;
  error_description: string;
  reason: Reason;
}

// The reason of the error a reply carries, for the request log line (set by the senders below).
const replyReasons = new WeakMap<FastifyReply, Reason>();

export function errorReasonOf(reply: FastifyReply): Reason | null {
  return replyReasons.get(reply) ?? null;
}

function sendBody(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  replyReasons.set(reply, body.reason);
  return reply.code(status).send(body);
}

export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  reason: Reason,
  description: string,
  retryAfterSec?: number,
  statusOverride?: number,
  dpop = false,
): FastifyReply {
  const status = statusOverride ?? STATUS[code];
  if (dpop && status === 401 && (code === 'invalid_token' || code === 'invalid_dpop_proof')) {
    reply.header('WWW-Authenticate', dpopChallenge(code, description));
  } else if (code === 'invalid_token' && status === 401) {
    // Description is fixed text without quotes, so it is safe inside the quoted-string.
    reply.header('WWW-Authenticate', `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"`);
  }
  if (retryAfterSec !== undefined) reply.header('Retry-After', String(retryAfterSec));
  return sendBody(reply, status, { error: code, error_description: description, reason });
}

/** RFC 6750 §3.1: a request without credentials gets the challenge (both schemes, RFC 9449 §7.1) but no error code. */
export function sendMissingBearer(reply: FastifyReply, dpop = false): FastifyReply {
  reply.header('WWW-Authenticate', dpop ? [`Bearer realm="${REALM}"`, dpopChallenge()] : `Bearer realm="${REALM}"`);
  return sendBody(reply, 401, { error: 'invalid_token', error_description: 'access token required', reason: 'access_token_missing' });
}

const FRAMEWORK_4XX: Record<number, { reason: Reason; description: string }> = {
  400: { reason: 'request_invalid', description: 'malformed request' },
  404: { reason: 'not_found', description: 'not found' },
  405: { reason: 'method_not_allowed', description: 'method not allowed' },
  408: { reason: 'request_timeout', description: 'request timed out' },
  413: { reason: 'body_too_large', description: 'request body too large' },
  415: { reason: 'content_type_unsupported', description: 'unsupported content type' },
  431: { reason: 'headers_too_large', description: 'request headers too large' },
};

function framework4xx(status: number): { reason: Reason; description: string } {
  return FRAMEWORK_4XX[status] ?? { reason: 'request_invalid', description: 'malformed request' };
}

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof AuthError) {
    return sendError(reply, err.code, err.reason, err.publicDescription, err.extra.retryAfterSec, err.extra.status, err.extra.dpopChallenge);
  }
  if (err instanceof StoreUnavailableError || (err as { cause?: unknown }).cause instanceof StoreUnavailableError) {
    req.log.warn({ err: { name: err.name, message: err.message } }, 'store unavailable');
    return sendError(reply, 'temporarily_unavailable', 'unavailable', DESCRIPTIONS.unavailable, 1);
  }
  if (err.validation) return sendError(reply, 'invalid_request', 'request_invalid', 'request parameters are missing or invalid');
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const { reason, description } = framework4xx(status);
    return sendBody(reply, status, { error: status === 404 ? 'not_found' : 'invalid_request', error_description: description, reason });
  }
  req.log.error({ err }, 'unhandled error');
  return sendBody(reply, 500, { error: 'server_error', error_description: 'internal error', reason: 'internal_error' });
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers too large, a slow client
 * timing out, a malformed request line). Fastify's default answers with its own body shape and
 * without our headers; this keeps them to the one public error shape.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const { reason, description } = framework4xx(status);
  const errorBody: ErrorBody = { error: 'invalid_request', error_description: description, reason };
  const body = JSON.stringify(errorBody);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nPragma: no-cache\r\n` +
        `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
