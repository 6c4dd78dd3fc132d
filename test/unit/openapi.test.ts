import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { generateOpenApiDocument } from '../../src/http/openapi.js';

test('the committed openapi/openapi.json is what the code generates (run `npm run openapi` after changing a schema)', async () => {
  const committed = JSON.parse(await fs.readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
  const generated = JSON.parse(JSON.stringify(await generateOpenApiDocument(loadConfig({}))));
  assert.deepEqual(generated, committed);
});

test('the OpenAPI document describes every route of the v1 contract with its error answers', async () => {
  const document = (await generateOpenApiDocument(loadConfig({}))) as { paths: Record<string, Record<string, any>> };
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
  for (const expected of [
    'POST /resources/{resource}/acquire',
    'GET /resources/{resource}',
    'GET /permits/{runId}',
    'POST /permits/{runId}/renew',
    'DELETE /permits/{runId}',
    'GET /resources',
    'GET /resources/{resource}/history',
    'GET /events',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
    'POST /permits/{runId}/force-release',
    'PUT /resources/{resource}/capacity',
    'GET /keys',
  ]) {
    assert.ok(operations.includes(expected), `${expected} is documented`);
  }
  const acquire = document.paths['/resources/{resource}/acquire']!.post;
  assert.deepEqual(Object.keys(acquire.responses).sort(), ['201', '400', '401', '403', '409', '413', '415', '429', '503']);
  assert.equal(acquire.responses['409'].content['application/json'].schema.properties.error.type, 'string');
  const history = document.paths['/resources/{resource}/history']!.get;
  assert.deepEqual(Object.keys(history.responses).sort(), ['200', '400', '401', '403', '429', '503']);
  const entry = history.responses['200'].content['application/json'].schema.properties.entries.items;
  assert.deepEqual(entry.properties.outcome.enum, ['released', 'expired', 'force_released', 'max_hold', 'terminated']);
  assert.match(entry.properties.acquiredAt.description, /later of the run's recorded start and the close of the run that held the slot before it/);
  assert.ok(document.paths['/events']!.get.responses['200'].content['text/event-stream'], '/events is documented as an event stream');
});
