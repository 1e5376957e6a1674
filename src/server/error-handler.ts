/**
 * Every error answer in one JSON shape ({ error, message, statusCode }): the server's own refusals
 * (HttpError), library errors by reason (src/server/errors.ts), schema validation, fastify's and
 * multipart's own error codes, unknown routes, and requests Node's HTTP parser refuses.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { UserError } from '../errors.js';
import { unsupportedMediaTypeMessage } from './body.js';
import { httpErrorOf } from './errors.js';
import { HttpError, type ErrorBody } from './http-error.js';
import type { ServerLimits } from './limits.js';

export function errorBody(statusCode: number, error: string, message: string): ErrorBody {
  return { error, message, statusCode };
}

type StatusCodeMessage = [status: number, code: string, message: string];

/** Fastify's and @fastify/multipart's error codes, answered with a status, code and message of ours. */
function knownErrors(limits: ServerLimits, contentType: string | undefined): Record<string, StatusCodeMessage> {
  return {
    FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', `request body exceeds the ${limits.bodyLimit}-byte limit`],
    FST_REQ_FILE_TOO_LARGE: [413, 'payload_too_large', `uploaded file exceeds the ${limits.bodyLimit}-byte limit`],
    FST_PARTS_LIMIT: [413, 'too_many_parts', 'multipart request has more than 12 parts: send one file field (and at most 10 small fields)'],
    FST_FILES_LIMIT: [400, 'multiple_files', 'multipart request has more than one file: send exactly one image per request'],
    FST_FIELDS_LIMIT: [413, 'too_many_fields', 'multipart request has more than 10 form fields: send one file field (and at most 10 small fields)'],
    FST_PROTO_VIOLATION: [400, 'malformed_multipart', 'multipart field name not allowed'],
    FST_INVALID_JSON_FIELD_ERROR: [400, 'malformed_multipart', 'a multipart field declared as JSON is not valid JSON'],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', unsupportedMediaTypeMessage(contentType)],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_request', 'the content-length header does not match the body'],
    FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'empty_body', 'request body is empty'],
    FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'unsupported_media_type', 'the request is not multipart'],
  };
}

type FastifyLikeError = Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string };

/** The status, code and message an error is answered with; undefined for an internal error. */
function answerOf(err: FastifyLikeError, limits: ServerLimits, contentType: string | undefined): StatusCodeMessage | undefined {
  if (err instanceof HttpError) return [err.statusCode, err.code, err.message];
  if (err instanceof UserError) {
    const h = httpErrorOf(err);
    return [h.statusCode, h.code, h.message];
  }
  if (err.validation) return [400, 'invalid_request', `invalid ${err.validationContext ?? 'request'}: ${err.message}`];
  const known = err.code ? knownErrors(limits, contentType)[err.code] : undefined;
  if (known) return known;
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return [status, err.code ? err.code.toLowerCase().replace(/^fst_(err_)?/, '') : 'bad_request', err.message];
  return undefined;
}

/** The not-found and error handlers of the app. */
export function setErrorHandlers(app: FastifyInstance, limits: ServerLimits): void {
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(404, 'not_found', `no route for ${req.method} ${req.url.split('?')[0]}`));
  });
  app.setErrorHandler((err: FastifyLikeError, req, reply) => {
    const answer = answerOf(err, limits, req.headers['content-type']);
    if (!answer) {
      req.log.error({ err }, 'internal error');
      reply.code(500).send(errorBody(500, 'internal_error', 'internal server error (see the server log)'));
      return;
    }
    const [status, code, message] = answer;
    if (err instanceof HttpError) {
      if (status >= 500) req.log.warn({ err: message }, 'request refused');
      reply.headers(err.headers);
    }
    reply.code(status).send(errorBody(status, code, message));
  });
}

/** Requests Node's HTTP parser refuses before fastify sees them answer in the same JSON shape. */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (err: Error & { code?: string }, socket: Socket) => {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'request_timeout', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'headers_too_large', 'the request line and headers exceed the size limit']
        : [400, 'Bad Request', 'bad_request', 'malformed HTTP request'];
  const body = JSON.stringify(errorBody(status, code, message));
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
};
