import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allowsResource, type ApiKey, type KeyRing } from '../auth/api-keys.js';
import { UNRESTRICTED, type Actor } from '../permits/actor.js';
import { forbidden, unauthorized } from '../permits/errors.js';

/** What a route asks of the caller's key: to read, to change permits, or to be an admin. */
export type Access = 'read' | 'write' | 'admin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's API key; undefined when the service checks no keys (or on the open paths). */
    apiKey: ApiKey | undefined;
  }
  interface FastifyContextConfig {
    /** Routes without it (health, readiness, metrics, the OpenAPI document) need no key. */
    access?: Access;
  }
}

const BEARER = /^Bearer +(\S+) *$/i;

/** The keys in force; a function, so a reload (SIGHUP) takes effect on the next request. */
export type KeysInForce = () => KeyRing | undefined;

/**
 * Checks the caller's key on every route that declares an `access` (401 without a known key, 403 for
 * a role that may not do this), and its resource prefixes once the resource name is validated (403).
 * The cost per request is one SHA-256 and one map lookup.
 */
export function registerAuthentication(app: FastifyInstance, keys: KeysInForce): void {
  app.decorateRequest('apiKey', undefined);

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    const ring = keys();
    if (!access || !ring) return;
    const header = request.headers.authorization;
    if (header === undefined) {
      reply.header('www-authenticate', 'Bearer');
      throw unauthorized('no API key; send "Authorization: Bearer <key>"');
    }
    // The header's value is never quoted back: it may be a key meant for another service.
    const presented = BEARER.exec(header)?.[1];
    if (!presented) {
      reply.header('www-authenticate', 'Bearer');
      throw unauthorized('expected "Authorization: Bearer <key>"');
    }
    const key = ring.authenticate(presented);
    if (!key) {
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw unauthorized('unknown API key');
    }
    request.apiKey = key;
    if (access === 'admin' && key.role !== 'admin') throw forbidden(`key "${key.name}" (role ${key.role}) may not do this: it needs the admin role`);
    if (access === 'write' && key.role === 'reader') throw forbidden(`key "${key.name}" has the reader role: it may only read`);
  });

  app.addHook('preHandler', async (request) => {
    const resource = (request.params as { resource?: unknown } | undefined)?.resource;
    const key = request.apiKey;
    if (key && typeof resource === 'string' && !allowsResource(key, resource)) {
      throw forbidden(`resource: key "${key.name}" may not use resource "${resource}" (its prefixes: ${key.prefixes.map((prefix) => prefix || '*').join(', ')})`);
    }
  });
}

/** The permits layer's view of the caller: its key, or anyone at all when the service checks no keys. */
export function actorOf(request: FastifyRequest): Actor {
  const key = request.apiKey;
  if (!key) return UNRESTRICTED;
  return { keyName: key.name, admin: key.role === 'admin', mayUse: (resource) => allowsResource(key, resource) };
}
