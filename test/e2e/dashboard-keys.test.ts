import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeKeyFile } from '../helpers/api-keys.js';
import { launchBrowser } from '../helpers/browser.js';
import { openEventStream } from '../helpers/event-stream.js';
import { metric, until } from '../helpers/metrics.js';
import { http } from '../helpers/process.js';
import { startTestService, uniqueResource } from '../helpers/service.js';

// The dashboard's API (resource list, history, events) and its page with API_KEYS_FILE set: a key to
// read, only the key's resources, and a held permit's token only to its holder and admins.

async function keyedService(t: Parameters<typeof startTestService>[0]) {
  const keys = await writeKeyFile(t, [
    { name: 'root', role: 'admin' },
    { name: 'team-a', role: 'client', prefixes: ['team-a.'] },
    { name: 'team-a-viewer', role: 'reader', prefixes: ['team-a.'] },
    { name: 'team-b', role: 'client', prefixes: ['team-b.'] },
  ]);
  const service = await startTestService(t, { API_KEYS_FILE: keys.file, EVENTS_REFRESH_MS: '60000' }, { listen: true });
  return { keys, service, url: service.url! };
}

test('with API keys, the resource list, a history and the event stream need a key, and show only the key\'s resources', async (t) => {
  const { keys, url } = await keyedService(t);
  for (const path of ['/resources', `/resources/team-a.${uniqueResource('x')}/history`, '/events']) {
    assert.equal((await http('GET', `${url}${path}`, undefined, { timeoutMs: 5_000 })).status, 401, path);
  }
  const mine = `team-a.${uniqueResource('list')}`;
  const theirs = `team-b.${uniqueResource('list')}`;
  assert.equal((await http('POST', `${url}/resources/${mine}/acquire`, {}, { headers: keys.auth('team-a') })).status, 201);
  assert.equal((await http('POST', `${url}/resources/${theirs}/acquire`, {}, { headers: keys.auth('team-b') })).status, 201);

  // The list is read from visibility, which follows a grant by a moment; the admin sees both first.
  const names = async (key: string) =>
    ((await http('GET', `${url}/resources?limit=500`, undefined, { headers: keys.auth(key) })).body.resources as any[]).map((entry) => entry.resource);
  await until(async () => (await names('root')).includes(mine) && (await names('root')).includes(theirs), 'visibility lists both');
  const seenByViewer = await names('team-a-viewer');
  assert.ok(seenByViewer.includes(mine), 'a reader sees its own prefix');
  assert.ok(!seenByViewer.includes(theirs), 'and nothing outside it');

  const history = await http('GET', `${url}/resources/${theirs}/history`, undefined, { headers: keys.auth('team-a-viewer') });
  assert.equal(history.status, 403, JSON.stringify(history.body));
  assert.equal((await http('GET', `${url}/resources/${mine}/history`, undefined, { headers: keys.auth('team-a-viewer') })).status, 200);
});

test('the event stream gives a held permit\'s token only to its holder and admins, and only the events of the key\'s resources', async (t) => {
  const { keys, service, url } = await keyedService(t);
  const holder = await openEventStream(t, `${url}/events`, keys.auth('team-a'));
  const viewer = await openEventStream(t, `${url}/events`, keys.auth('team-a-viewer'));
  const admin = await openEventStream(t, `${url}/events`, keys.auth('root'));
  const other = await openEventStream(t, `${url}/events`, keys.auth('team-b'));
  await until(async () => (await metric(service, 'lock_event_streams')) === 4, 'four streams listen');

  const resource = `team-a.${uniqueResource('ev')}`;
  const permit = (await http('POST', `${url}/resources/${resource}/acquire`, { holder: 'a-job' }, { headers: keys.auth('team-a') })).body;
  const granted = (stream: typeof holder) => stream.next('granted', (event) => event.type === 'granted' && event.data.permit.resource === resource);
  assert.equal((await granted(holder)).data.permit.runId, permit.runId);
  assert.equal((await granted(admin)).data.permit.runId, permit.runId);
  const shownToViewer = (await granted(viewer)).data.permit;
  assert.equal(shownToViewer.holder, 'a-job');
  assert.equal(shownToViewer.runId, undefined, 'a reader is not given the token that releases the permit');
  assert.equal(shownToViewer.fencingToken, undefined);
  assert.equal(shownToViewer.owner, undefined, 'the acquiring key is never sent');

  // team-b's own grant arrives on its stream; the team-a grant, made before it, never did.
  const own = `team-b.${uniqueResource('ev')}`;
  await http('POST', `${url}/resources/${own}/acquire`, {}, { headers: keys.auth('team-b') });
  await other.next('granted', (event) => event.type === 'granted' && event.data.permit.resource === own);
  assert.ok(!other.events.some((event) => JSON.stringify(event.data).includes(resource)), 'team-b heard of a team-a resource');
});

test('the page asks for an API key when the service wants one, and then shows the key\'s holders live', async (t) => {
  const { keys, url } = await keyedService(t);
  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const resource = `team-a.${uniqueResource('page')}`;
  await page.goto(`${url}/?prefix=team-a.`);
  await page.locator('#key-form:not([hidden])').waitFor();
  await page.fill('#api-key', keys.keys['team-a-viewer']!);
  await page.click('#key-form button[type=submit]');
  await page.locator('#live.ok').waitFor();

  await http('POST', `${url}/resources/${resource}/acquire`, { holder: 'seen by the viewer', leaseMs: 60_000 }, { headers: keys.auth('team-a') });
  const holder = page.locator(`article[data-resource="${resource}"] .holders li`);
  await holder.waitFor({ timeout: 15_000 });
  assert.match(await holder.innerText(), /seen by the viewer/);
  assert.equal(await holder.getAttribute('data-run-id'), null, 'the viewer is shown no token');
  const stored = await page.evaluate(() => Object.keys((globalThis as any).sessionStorage));
  assert.deepEqual(stored, ['lock-service-api-key'], 'the key is kept in the tab\'s session only');
});
