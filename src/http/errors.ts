// Maps every failure to a fixed public error body: RFC 6749 §5.2 codes on the token endpoint,
// RFC 6750 §3 on Bearer routes. Internals (messages, stacks) go to the log only.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError, StoreUnavailableError, type ErrorCode } from '../domain/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_grant: 400,
  invalid_client: 400,
  unsupported_grant_type: 400,
  invalid_token: 401,
  invalid_credentials: 401,
  email_taken: 409,
  not_found: 404,
  rate_limited: 429,
  temporarily_unavailable: 503,
  server_error: 500,
};

export const REALM = 'latchkey';

export function sendError(reply: FastifyReply, code: ErrorCode, description: string, retryAfterSec?: number): FastifyReply {
  const status = STATUS[code];
  if (code === 'invalid_token') {
    // Description is fixed text without quotes, so it is safe inside the quoted-string.
    reply.header('WWW-Authenticate', `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"`);
  }
  if (retryAfterSec !== undefined) reply.header('Retry-After', String(retryAfterSec));
  return reply.code(status).send({ error: code, error_description: description });
}

/** RFC 6750 §3.1: a request without credentials gets the challenge but no error code. */
export function sendMissingBearer(reply: FastifyReply): FastifyReply {
  reply.header('WWW-Authenticate', `Bearer realm="${REALM}"`);
  return reply.code(401).send({ error: 'invalid_token', error_description: 'access token required' });
}

const FRAMEWORK_4XX: Record<number, string> = {
  400: 'malformed request',
  404: 'not found',
  405: 'method not allowed',
  408: 'request timed out',
  413: 'request body too large',
  415: 'unsupported content type',
  431: 'request headers too large',
};

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof AuthError) return sendError(reply, err.code, err.publicDescription, err.extra.retryAfterSec);
  if (err instanceof StoreUnavailableError || (err as { cause?: unknown }).cause instanceof StoreUnavailableError) {
    req.log.warn({ err: { name: err.name, message: err.message } }, 'store unavailable');
    return sendError(reply, 'temporarily_unavailable', 'a backing store is unavailable; retry shortly', 1);
  }
  if (err.validation) return sendError(reply, 'invalid_request', 'request parameters are missing or invalid');
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const description = FRAMEWORK_4XX[status] ?? 'malformed request';
    return reply.code(status).send({ error: status === 404 ? 'not_found' : 'invalid_request', error_description: description });
  }
  req.log.error({ err }, 'unhandled error');
  return reply.code(500).send({ error: 'server_error', error_description: 'internal error' });
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers too large, a slow client
 * timing out, a malformed request line). Fastify's default answers with its own body shape and
 * without our headers; this keeps them to the one public error shape.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify({ error: 'invalid_request', error_description: FRAMEWORK_4XX[status] ?? 'malformed request' });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nPragma: no-cache\r\n` +
        `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
