import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { axeViolations, collectPageErrors, launchBrowser } from '../helpers/browser.js';
import { metric, until } from '../helpers/metrics.js';
import { REPO_ROOT } from '../helpers/process.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

// The dashboard page in a real browser (Debian's chromium driven by playwright-core) against the
// whole service and a real Temporal server: live holders, countdowns, history, timeline, keyboard,
// accessibility, a phone's width, and a screenshot of three resources under contention.

const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');
const TEMPORAL_UI = 'http://127.0.0.1:8233';

const card = (resource: string) => `article[data-resource="${resource}"]`;

async function acquire(service: TestService, resource: string, body: object): Promise<any> {
  const answer = await service.call('POST', `/resources/${resource}/acquire`, body);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

/** Waits until the page shows the holder, and returns how long it took from `since`. */
async function untilHolderShown(page: Page, resource: string, runId: string, since: number): Promise<number> {
  await page.locator(`${card(resource)} .holders li[data-run-id="${runId}"]`).waitFor({ timeout: 15_000 });
  return Date.now() - since;
}

test('the dashboard shows holders live with a moving countdown, then released and expired permits in the history table and the timeline; it is keyboard-usable and passes axe-core', async (t) => {
  // A refresh from visibility only every minute: whatever the page shows within the test came from
  // this replica's own events, pushed at once, not from a periodic read.
  const service = await startTestService(t, { EVENTS_REFRESH_MS: '60000', TEMPORAL_UI_URL: TEMPORAL_UI }, { listen: true });
  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = collectPageErrors(page);
  await fs.mkdir(ARTIFACTS, { recursive: true });
  try {
    await checkDashboard(t, service, page, errors);
  } finally {
    // What the page showed at the end, to look at when the test failed.
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-test-end.png'), fullPage: true }).catch(() => undefined);
  }
});

async function checkDashboard(t: TestContext, service: TestService, page: Page, errors: string[]): Promise<void> {
  const prefix = uniqueResource('ui');
  const resource = `${prefix}.mutex`;

  await page.goto(`${service.url}/?prefix=${prefix}`);
  await page.locator('#live.ok').waitFor();
  await until(async () => (await metric(service, 'lock_event_streams')) === 1, 'the page listens to /events');
  const loadMs = await page.evaluate(() => {
    const [navigation] = (globalThis as any).performance.getEntriesByType('navigation');
    return navigation.loadEventEnd - navigation.startTime;
  });
  t.diagnostic(`page load (navigation start to load event) on loopback: ${loadMs.toFixed(0)} ms`);

  // Acquired through the API: the page shows it with its holder label, and its countdown moves.
  const apiRequests: string[] = [];
  page.on('request', (request) => apiRequests.push(request.url()));
  const acquiredAt = Date.now();
  const held = await acquire(service, resource, { holder: 'browser holder one', leaseMs: 60_000 });
  const shownMs = await untilHolderShown(page, resource, held.runId, acquiredAt);
  t.diagnostic(`a grant through the API showed on the page ${shownMs} ms after the acquire was sent`);
  assert.ok(
    !apiRequests.some((url) => new URL(url).pathname.startsWith('/resources')),
    `the holder came from the pushed event, with no read of the API: ${apiRequests.join(', ')}`,
  );
  const holderRow = page.locator(`${card(resource)} .holders li[data-run-id="${held.runId}"]`);
  assert.equal(await holderRow.locator('.holder').textContent(), 'browser holder one');
  const countdown = holderRow.locator('.countdown');
  const firstCountdown = await countdown.textContent();
  assert.match(firstCountdown ?? '', /^expires in \d/);
  await page.waitForFunction(
    ({ selector, first }) => (globalThis as any).document.querySelector(selector)?.textContent !== first,
    { selector: `${card(resource)} .holders li[data-run-id="${held.runId}"] .countdown`, first: firstCountdown },
  );

  // The history table, reached with the keyboard: focus the card's button and press Enter.
  await page.locator(`${card(resource)} .link-button`).focus();
  await page.keyboard.press('Enter');
  await page.locator('#history-caption').filter({ hasText: resource }).waitFor();

  assert.equal((await service.call('DELETE', `/permits/${held.runId}`)).status, 204);
  await holderRow.waitFor({ state: 'detached' });
  const releasedRow = page.locator(`#history tbody tr[data-run-id="${held.runId}"]`);
  await releasedRow.waitFor({ timeout: 15_000 });
  assert.equal(await releasedRow.locator('.outcome').textContent(), 'released');
  assert.equal(await releasedRow.locator('td').nth(2).textContent(), 'browser holder one');

  // A permit left to expire.
  const expiring = await acquire(service, resource, { holder: 'left to expire', leaseMs: 1_000 });
  const expiringRow = page.locator(`${card(resource)} .holders li[data-run-id="${expiring.runId}"]`);
  await expiringRow.waitFor();
  await expiringRow.waitFor({ state: 'detached', timeout: 15_000 });
  const expiredRow = page.locator(`#history tbody tr[data-run-id="${expiring.runId}"]`);
  await expiredRow.waitFor({ timeout: 15_000 });
  assert.equal(await expiredRow.locator('.outcome').textContent(), 'expired');

  // The timeline draws a bar for each, coloured by how it ended.
  const bar = (runId: string) => page.locator(`${card(resource)} .timeline .bar[data-run-id="${runId}"]`);
  await bar(expiring.runId).waitFor();
  assert.equal(await bar(held.runId).getAttribute('data-outcome'), 'released');
  assert.equal(await bar(expiring.runId).getAttribute('data-outcome'), 'expired');
  assert.notEqual(
    await bar(held.runId).evaluate((element) => (globalThis as any).getComputedStyle(element).backgroundColor),
    await bar(expiring.runId).evaluate((element) => (globalThis as any).getComputedStyle(element).backgroundColor),
  );

  // Keyboard: one tab stop per timeline, arrow keys between its bars, each showing its details and run link.
  await bar(expiring.runId).focus();
  const details = page.locator(`${card(resource)} .bar-details`);
  await details.filter({ hasText: 'left to expire' }).waitFor();
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement.dataset.runId), held.runId);
  await details.filter({ hasText: 'browser holder one' }).waitFor();
  assert.equal(
    await details.locator('a').getAttribute('href'),
    `${TEMPORAL_UI}/namespaces/default/workflows/${encodeURIComponent(held.workflowId)}/${held.runId}`,
  );
  assert.equal(await page.locator(`${card(resource)} .timeline .bar[tabindex="0"]`).count(), 1);

  const serious = (await axeViolations(page)).filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.deepEqual(serious, [], 'axe-core finds no serious or critical violation');

  // A phone's width: nothing wider than the screen, and still no serious violation.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 390px screen`);
  const seriousOnPhone = (await axeViolations(page)).filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.deepEqual(seriousOnPhone, []);
  await fs.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });

  assert.deepEqual(errors, [], 'no script error and no Content-Security-Policy refusal');
}

test('a screenshot of three resources under contention, for the README', async (t) => {
  const service = await startTestService(t, { EVENTS_REFRESH_MS: '2000', TEMPORAL_UI_URL: TEMPORAL_UI }, { listen: true });
  const prefix = uniqueResource('demo');
  const resources = [
    { name: `${prefix}.gpu-pool`, capacity: 3, clients: 5, holdMs: [700, 1_600] },
    { name: `${prefix}.db-migrate`, capacity: 1, clients: 3, holdMs: [400, 900] },
    { name: `${prefix}.report-builder`, capacity: 2, clients: 4, holdMs: [300, 1_200] },
  ];
  let running = true;
  const holders = ['trainer', 'etl', 'nightly', 'ci-runner', 'backup'];
  const client = async (resource: ContendedResource, index: number) => {
    for (let round = 0; running && round < 200; round++) {
      const answer = await service.call('POST', `/resources/${resource.name}/acquire`, {
        capacity: resource.capacity,
        leaseMs: 20_000 + 10_000 * (index % 4),
        waitMs: 10_000,
        holder: `${holders[index % holders.length]}-${index} (host-${(index * 7) % 10})`,
      });
      if (answer.status !== 201) continue;
      const [low, high] = resource.holdMs;
      const holdMs = low! + Math.random() * (high! - low!);
      await new Promise((resolve) => setTimeout(resolve, holdMs / 2));
      // Some holders renew their lease halfway, as `permit run` does.
      if (index % 2 === 1) await service.call('POST', `/permits/${answer.body.runId}/renew`, {});
      await new Promise((resolve) => setTimeout(resolve, holdMs / 2));
      await service.call('DELETE', `/permits/${answer.body.runId}`);
    }
  };
  const clients = resources.flatMap((resource) => Array.from({ length: resource.clients }, (_, index) => client(resource, index)));
  try {
    await screenshotUnderContention(t, service, prefix, resources);
  } finally {
    running = false;
    await Promise.allSettled(clients);
  }
});

interface ContendedResource {
  name: string;
  capacity: number;
  clients: number;
  holdMs: number[];
}

async function screenshotUnderContention(t: TestContext, service: TestService, prefix: string, resources: ContendedResource[]): Promise<void> {
  const expiring = await acquire(service, resources[0]!.name, {
    capacity: 3,
    leaseMs: 2_000,
    waitMs: 20_000,
    holder: 'crashed worker (never released)',
  });

  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(`${service.url}/?prefix=${prefix}`);
  await page.locator('#live.ok').waitFor();
  // Facts to wait on: every resource has holders and a history, the expired permit is drawn.
  for (const resource of resources) {
    await page.locator(`${card(resource.name)} .holders li[data-run-id]`).first().waitFor({ timeout: 20_000 });
    await until(
      async () => (await page.locator(`${card(resource.name)} .timeline .bar:not(.held)`).count()) >= 25,
      `25 past permits of ${resource.name} are drawn`,
      60_000,
    );
  }
  await page.locator(`${card(resources[0]!.name)} .timeline .bar.expired[data-run-id="${expiring.runId}"]`).waitFor({ timeout: 20_000 });
  await page.locator('#window').selectOption('60000');
  await page.locator(`${card(resources[0]!.name)} .link-button`).click();
  await page.locator('#history tbody tr').first().waitFor();
  await page.locator(`${card(resources[0]!.name)} .timeline .bar.expired`).first().click();
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, 'dashboard.png');
  await page.screenshot({ path: file, fullPage: true });
  const { size } = await fs.stat(file);
  assert.ok(size > 20_000, `the screenshot ${file} has content (${size} bytes)`);
  t.diagnostic(`screenshot: ${file}`);
}
