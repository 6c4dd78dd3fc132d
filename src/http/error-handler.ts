import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Config } from '../config.js';
import { DomainError, type ErrorCode } from '../permits/errors.js';

interface ErrorBody {
  error: ErrorCode;
  message: string;
  state?: 'released' | 'expired';
  capacity?: number;
}

/** Fastify's own 4xx errors, by status, mapped onto the API's error codes. */
const FRAMEWORK_CODES: Record<number, ErrorCode> = {
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

function validationMessage(error: FastifyError): string {
  const issues = hasZodFastifySchemaValidationErrors(error) ? error.validation : [];
  const where = error.validationContext ?? 'request';
  const parts = issues.map((issue) => {
    const field = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
    return `${where}${field ? `.${field}` : ''}: ${issue.message}`;
  });
  return parts.length > 0 ? parts.join('; ') : error.message;
}

/** One place turns every failure into `{ error, message }`; 5xx details stay in the log, never in the answer. */
export function registerErrorHandling(app: FastifyInstance, limits: Pick<Config['http'], 'bodyLimitBytes'>): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let status: number;
    let body: ErrorBody;
    if (error instanceof DomainError) {
      status = error.statusCode;
      body = { error: error.code, message: error.message };
      if (error.extra.state) body.state = error.extra.state;
      if (error.extra.capacityInForce !== undefined) body.capacity = error.extra.capacityInForce;
      if (error.extra.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.extra.retryAfterSeconds));
    } else if (hasZodFastifySchemaValidationErrors(error)) {
      status = 400;
      body = { error: 'invalid_request', message: validationMessage(error) };
    } else if (error.statusCode === 413) {
      status = 413;
      body = { error: 'payload_too_large', message: `body: larger than ${limits.bodyLimitBytes} bytes (BODY_LIMIT_BYTES)` };
    } else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      body = { error: FRAMEWORK_CODES[status] ?? 'invalid_request', message: error.message };
    } else {
      status = 500;
      body = { error: 'internal_error', message: 'internal error; see the service log for the request id' };
    }
    // DomainErrors are expected outcomes (Temporal down, shutting down): no stack trace for them.
    if (status >= 500 && !(error instanceof DomainError)) request.log.error({ err: error }, 'request failed');
    else if (status >= 500) request.log.warn({ error: body.error, message: body.message }, 'request not served');
    else request.log.info({ error: body.error, message: body.message }, 'request refused');
    return reply.code(status).type('application/json').send(body);
  });

  // Fastify answers 404 for a known path with the wrong method; callers deserve 405 and an Allow header.
  const routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(`^${route.url.replace(/:[^/]+/g, '[^/]+')}/?$`);
    const methods = [route.method].flat().filter((method) => method !== 'HEAD');
    const known = routes.find((entry) => entry.pattern.source === pattern.source);
    if (known) methods.forEach((method) => known.methods.add(method));
    else routes.push({ pattern, methods: new Set(methods) });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((route) => route.pattern.test(path)).flatMap((route) => [...route.methods]))];
    if (allowed.length > 0) {
      reply.header('allow', allowed.sort().join(', '));
      reply.code(405).send({
        error: 'method_not_allowed',
        message: `${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}`,
      } satisfies ErrorBody);
      return;
    }
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${path}` } satisfies ErrorBody);
  });
}
