import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { OpenAPIV3 } from 'openapi-types';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { rateLimited, shuttingDown } from '../permits/errors.js';
import type { PermitService } from '../permits/permit-service.js';
import { actorOf, registerAuthentication, type KeysInForce } from './authentication.js';
import { registerErrorHandling } from './error-handler.js';
import { eventRoutes } from './routes/events.js';
import { operationsRoutes, type Readiness } from './routes/operations.js';
import { adminRoutes } from './routes/admin.js';
import { permitRoutes } from './routes/permits.js';
import { resourceRoutes } from './routes/resources.js';
import { uiRoutes } from './routes/ui.js';
import { createLimitSchemas } from './schemas.js';

export interface AppDependencies {
  /** The permits API; without it (SERVICE_ROLE=worker) only health, readiness and metrics are served. */
  permits: PermitService | undefined;
  readiness: Readiness;
  metrics: Metrics;
  limits: Config['limits'];
  http: Config['http'];
  /** The API keys in force; undefined from it means the service checks no key. */
  keys: KeysInForce;
  /** Serve HTTPS with this certificate and key (PEM); plain HTTP without. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** The /events stream's pacing (EVENTS_REFRESH_MS, EVENTS_KEEPALIVE_MS). */
  events: Config['events'];
  logger: Logger;
}

/**
 * @fastify/swagger marks every request body required, but a body without required fields may be
 * left out here (a bodyless POST counts as `{}`), so the document says so.
 */
function markOptionalBodies<T extends { paths?: object }>(document: T): T {
  for (const operations of Object.values(document.paths ?? {}) as Array<Record<string, unknown> | undefined>) {
    for (const operation of Object.values(operations ?? {})) {
      const body = (operation as OpenAPIV3.OperationObject | undefined)?.requestBody as OpenAPIV3.RequestBodyObject | undefined;
      const schema = body?.content?.['application/json']?.schema as OpenAPIV3.SchemaObject | undefined;
      if (body && schema && !(schema.required?.length)) body.required = false;
    }
  }
  return document;
}

const OPERATIONS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Node refuses a request whose head is too large before Fastify sees it; the answer still has the
 * API's shape and names the limit. Other client errors keep Fastify's handling.
 */
function answerClientError(maxHeaderBytes: number) {
  return function (this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, body] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, { error: 'headers_too_large', message: `headers: the request line and headers exceed ${maxHeaderBytes} bytes (MAX_HEADER_BYTES)` }]
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, { error: 'invalid_request', message: 'the request was not received in time' }]
          : [400, { error: 'invalid_request', message: 'the request is not well-formed HTTP' }];
    this.log.info({ code: error.code, status }, 'request refused before routing');
    const text = JSON.stringify(body);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    socket.destroy(error);
  };
}

/** Builds the HTTP app around its dependencies; it never listens, so tests can inject() into it. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // A caller's own request id is kept when it is sane, so logs can be joined across services.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: deps.http.bodyLimitBytes,
    http: { maxHeaderSize: deps.http.maxHeaderBytes },
    ...(deps.tls && { https: { ...deps.tls, maxHeaderSize: deps.http.maxHeaderBytes } }),
    clientErrorHandler: answerClientError(deps.http.maxHeaderBytes),
    // Long enough for any valid resource name (128) so the zod schema, not the router, judges names.
    routerOptions: { maxParamLength: 512 },
    // Malformed URLs and over-long path parameters fail inside the router, before the error handler.
    frameworkErrors: (error, request, reply) => {
      request.log.info({ code: error.code }, 'request refused by the router');
      void (reply as FastifyReply)
        .code(error.statusCode && error.statusCode < 500 ? error.statusCode : 400)
        .send({ error: 'invalid_request', message: `path: ${error.message}` });
    },
    // Requests during the drain get the API's own shutting_down answer (hook below), not Fastify's.
    return503OnClosing: false,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // curl -X POST -H 'content-type: application/json' with no body means "no options", not an error.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Health and readiness keep answering during shutdown; readiness says not_ready.
    if (!deps.readiness.accepting() && !OPERATIONS_PATHS.has(request.url.split('?')[0]!)) throw shuttingDown();
  });
  // Fastify's close() ends idle keep-alive connections only; answers given while draining close theirs,
  // so shutdown does not wait for clients' keep-alive timeouts.
  app.addHook('onSend', async (_request, reply) => {
    if (!deps.readiness.accepting()) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpSeconds.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  registerErrorHandling(app, deps.http);
  registerAuthentication(app, deps.keys);
  if (deps.http.rateLimitPerSecond > 0) {
    const perSecond = deps.http.rateLimitPerSecond;
    await app.register(fastifyRateLimit, {
      max: perSecond,
      timeWindow: 1_000,
      // Runs after authentication: a key's requests count together on every address it uses.
      hook: 'preHandler',
      keyGenerator: (request) => (request.apiKey ? `key:${request.apiKey.name}` : `ip:${request.ip}`),
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      errorResponseBuilder: (_request, context) => rateLimited(perSecond, Math.max(1, Math.ceil(context.ttl / 1000))),
    });
  }
  if (deps.permits) await registerApi(app, deps.permits, deps);
  await app.register(operationsRoutes, { readiness: deps.readiness, metrics: deps.metrics });
  return app;
}

/** The permit routes, the dashboard's routes and page, and their OpenAPI document (/openapi.json, /docs). */
async function registerApi(app: FastifyInstance, permits: PermitService, deps: AppDependencies): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Lock service',
        description:
          'Permits on named resources: at most N holders at once (N = 1 is a mutex). Each held permit is a Temporal workflow run; its runId is the fencing token.',
        version: '1.0.0',
      },
      tags: [
        { name: 'permits', description: 'Acquire, renew, release and check permits' },
        { name: 'resources', description: 'Who holds what: the resources with holders, past permits, live events' },
        { name: 'operations', description: 'Health, readiness, metrics' },
        { name: 'admin', description: 'Admin keys only: force-release, capacities, the key list' },
      ],
      // Every operation needs the key when API_KEYS_FILE is set, except health, readiness and metrics.
      security: [{ apiKey: [] }],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key from API_KEYS_FILE, as "Authorization: Bearer <key>"; a service without API_KEYS_FILE checks none',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) =>
      'openapiObject' in documentObject ? markOptionalBodies(documentObject.openapiObject) : documentObject.swaggerObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const schemas = createLimitSchemas(deps.limits);
  await app.register(permitRoutes, { permits, schemas, maxWaitersPerKey: deps.http.maxWaitersPerKey, actorOf });
  await app.register(adminRoutes, { permits, schemas, keys: deps.keys, actorOf });
  await app.register(resourceRoutes, { permits, actorOf });
  await app.register(eventRoutes, { permits, events: deps.events, actorOf });
  await app.register(uiRoutes);
}
