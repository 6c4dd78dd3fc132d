import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/process.js';
import { startTestService } from '../helpers/service.js';

// The page's files as the service serves them: from the package's ui/ folder, nothing fetched from
// anywhere else, under a Content-Security-Policy that allows only the service itself.

test('the page is served at / and /ui with its own script and stylesheet only, under a strict Content-Security-Policy', async (t) => {
  const service = await startTestService(t);
  const page = await service.call('GET', '/');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  const policy = String(page.headers['content-security-policy']);
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, /script-src 'self'/);
  assert.match(policy, /connect-src 'self'/);
  assert.equal((await service.call('GET', '/ui')).body, page.body);

  // Every file the page loads is one of ours: nothing from a CDN or another host.
  const references = [...String(page.body).matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
  for (const reference of references) {
    assert.ok(reference.startsWith('#') || (reference.startsWith('/') && !reference.startsWith('//')), `${reference} is served by the service`);
  }
  for (const asset of ['/ui/app.js', '/ui/style.css', '/ui/favicon.svg']) {
    assert.ok(references.includes(asset), `the page loads ${asset}`);
    const answer = await service.call('GET', asset);
    assert.equal(answer.status, 200, asset);
    assert.equal(answer.body, await fs.readFile(path.join(REPO_ROOT, asset.slice(1)), 'utf8'));
    const again = await service.call('GET', asset, undefined, { 'if-none-match': String(answer.headers.etag) });
    assert.equal(again.status, 304, `${asset} is revalidated, not sent again`);
  }
  assert.match(String((await service.call('GET', '/ui/app.js')).headers['content-type']), /^text\/javascript/);

  const missing = await service.call('GET', '/ui/..%2Fpackage.json');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error, 'not_found');
});
