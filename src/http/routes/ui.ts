import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

/** The page's files, at the package root beside src/ and dist/ (both two levels below this file's folder). */
export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// The page loads only its own files and talks only to this service; links to the Temporal Web UI
// are plain navigation, which the policy leaves alone.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

async function loadFiles(): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  for (const name of await fs.readdir(UI_DIR)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = await fs.readFile(path.join(UI_DIR, name));
    files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return files;
}

/**
 * The dashboard page at / and /ui, and its files under /ui/. Plain files shipped in the package,
 * read once at start-up: nothing to build, nothing from a CDN.
 */
export const uiRoutes: FastifyPluginAsync = async (app) => {
  const files = await loadFiles();
  const serve = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const file = files.get(name);
    if (!file) {
      return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
    }
    reply.header('etag', file.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff');
    if (file.type.startsWith('text/html')) reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.type(file.type).send(file.body);
  };
  for (const url of ['/', '/ui', '/ui/']) app.get(url, { schema: { hide: true } }, serve('index.html'));
  // Only the files read at start-up are served: the name is a key, never a path.
  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, (request, reply) =>
    serve(request.params.file)(request, reply),
  );
};
