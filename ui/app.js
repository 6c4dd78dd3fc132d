// The dashboard: reads the JSON API and follows /events. Plain DOM, no build step, no dependency.

const RESOURCES_PER_PAGE = 20;
const HISTORY_PAGE = 20;
/** History read per resource for its timeline; older permits fall off the left edge anyway. */
const TIMELINE_HISTORY = 100;
const TIMELINE_REDRAW_MS = 2_000;
const COUNTDOWN_MS = 250;
/** However many permits end, a resource's history is read again at most this often. */
const HISTORY_RELOAD_MS = 700;
const OUTCOME_TEXT = {
  held: 'held now',
  released: 'released',
  expired: 'expired',
  max_hold: 'max hold reached',
  force_released: 'force-released',
  terminated: 'terminated',
};

const state = {
  prefix: '',
  windowMs: 3_600_000,
  cursor: null,
  /** resource name → { summary, capacity, held: Map<workflowId, permit>, history: entry[], card } */
  resources: new Map(),
  temporalUi: null,
  history: { resource: null, before: null, stack: [] },
  /** runIds seen ending (released/expired) whose history entry has not been read yet, by resource */
  pendingEnded: new Map(),
};

const $ = (selector, root = document) => root.querySelector(selector);

/** Makes an element; children are nodes or text (never parsed as HTML). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = value;
    // Set through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    else if (name === 'style') Object.assign(element.style, value);
    else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null && child !== false) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// ---- API key ----------------------------------------------------------------------------------
// A service with API_KEYS_FILE wants a key on every call. The page asks for it after a 401, keeps it
// in this tab's session storage only, and sends it as a bearer token (EventSource cannot send one, so
// the event stream is read with fetch as well).

const KEY_STORAGE = 'lock-service-api-key';

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function authHeaders(accept) {
  const key = apiKey();
  return key ? { accept, authorization: `Bearer ${key}` } : { accept };
}

function askForKey(message) {
  const form = $('#key-form');
  form.hidden = false;
  $('#key-message').textContent = message;
  $('#api-key').focus();
}

$('#key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $('#api-key').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $('#api-key').value = '';
  $('#key-form').hidden = true;
  $('#forget-key').hidden = false;
  reconnect();
});
$('#forget-key').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  $('#forget-key').hidden = true;
  reconnect();
});
$('#forget-key').hidden = !apiKey();

async function api(path) {
  const response = await fetch(path, { headers: authHeaders('application/json') });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) askForKey(body.message ?? 'This service wants an API key.');
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

function duration(ms) {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = ms / 1_000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function clock(iso) {
  const date = new Date(iso);
  return `${date.toLocaleTimeString([], { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** Run IDs are UUIDv7: their first digits are a timestamp, shared by runs close in time; the last ones tell them apart. */
function shortRun(runId) {
  return `…${runId.slice(-8)}`;
}

function runLink(workflowId, runId) {
  return state.temporalUi ? `${state.temporalUi}/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}` : null;
}

function setLive(text, ok) {
  const live = $('#live');
  live.textContent = text;
  live.classList.toggle('ok', ok);
}

// ---- resources ------------------------------------------------------------------------------

/**
 * Reads the list of resources; the holders and history of `detailsOf` ('all', or a set of names) and
 * of resources new to the page are read too. A refresh reads only what changed: each resource costs
 * the service reads of its slots and its history.
 */
async function loadResources(detailsOf = 'all') {
  const query = new URLSearchParams({ limit: String(RESOURCES_PER_PAGE) });
  if (state.prefix) query.set('prefix', state.prefix);
  const listing = await api(`/resources?${query}`);
  const names = new Set(listing.resources.map((summary) => summary.resource));
  // Resources shown from this replica's own events stay until visibility has caught up with them.
  for (const [name, resource] of state.resources) {
    if (!names.has(name) && resource.held.size === 0) {
      resource.card.remove();
      state.resources.delete(name);
    }
  }
  const fresh = listing.resources.filter((summary) => !state.resources.has(summary.resource)).map((summary) => summary.resource);
  for (const summary of listing.resources) upsertResource(summary.resource).summary = summary;
  $('#more-resources').hidden = !listing.nextCursor;
  state.cursor = listing.nextCursor;
  state.complete = listing.complete;
  updateDatalist();
  const details = listing.resources
    .map((summary) => summary.resource)
    .filter((name) => detailsOf === 'all' || detailsOf.has(name) || fresh.includes(name));
  await Promise.all(details.map((name) => loadResource(name)));
  renderAll();
}

async function moreResources() {
  if (!state.cursor) return;
  const query = new URLSearchParams({ limit: String(RESOURCES_PER_PAGE), cursor: state.cursor });
  if (state.prefix) query.set('prefix', state.prefix);
  const listing = await api(`/resources?${query}`);
  for (const summary of listing.resources) upsertResource(summary.resource).summary = summary;
  state.cursor = listing.nextCursor;
  $('#more-resources').hidden = !listing.nextCursor;
  await Promise.all(listing.resources.map((summary) => loadResource(summary.resource)));
  renderAll();
}

function upsertResource(name) {
  let resource = state.resources.get(name);
  if (!resource) {
    resource = { name, summary: null, capacity: 1, held: new Map(), history: [], card: null, selected: null, recent: new Map() };
    resource.card = buildCard(resource);
    state.resources.set(name, resource);
    const cards = [...state.resources.keys()].sort();
    const next = cards[cards.indexOf(name) + 1];
    $('#resources').insertBefore(resource.card, next ? state.resources.get(next).card : null);
  }
  return resource;
}

/** Holders (read every slot) and recent history of one resource. */
async function loadResource(name) {
  const resource = state.resources.get(name);
  if (!resource) return;
  const capacity = resource.summary?.capacity || undefined;
  const [view, history] = await Promise.all([
    api(`/resources/${encodeURIComponent(name)}${capacity ? `?capacity=${capacity}` : ''}`),
    api(`/resources/${encodeURIComponent(name)}/history?limit=${TIMELINE_HISTORY}`),
  ]);
  resource.capacity = view.capacity;
  resource.held = new Map(view.held.map((permit) => [permit.workflowId, permit]));
  applyRecent(resource);
  resource.history = history.entries;
  settlePending(resource);
  render(resource);
}

async function reloadHistory(name) {
  const resource = state.resources.get(name);
  if (!resource) return;
  resource.history = (await api(`/resources/${encodeURIComponent(name)}/history?limit=${TIMELINE_HISTORY}`)).entries;
  settlePending(resource);
  render(resource);
}

/** Visibility follows a close by a moment: read the history again until the ended permits are in it. */
function settlePending(resource) {
  const pending = state.pendingEnded.get(resource.name);
  if (!pending) return;
  for (const entry of resource.history) pending.delete(entry.runId);
  if (pending.size === 0) state.pendingEnded.delete(resource.name);
  else if ((pending.tries = (pending.tries ?? 0) + 1) <= 10) later(`history:${resource.name}`, HISTORY_RELOAD_MS, () => reloadHistory(resource.name));
  if (state.history.resource === resource.name && !state.history.before) later('history-table', 100, () => loadHistoryPage());
}

const timers = new Map();
/** Runs fn once after delayMs, however often it is asked for meanwhile. */
function later(key, delayMs, fn) {
  if (timers.has(key)) return;
  timers.set(key, setTimeout(() => {
    timers.delete(key);
    fn().catch(showError);
  }, delayMs));
}

/** How long this replica's own events outrank a read that may have started before them. */
const RECENT_MS = 5_000;

/** Notes an event, so a read that was already under way when it came cannot undo it. */
function noteRecent(resource, workflowId, permit) {
  resource.recent.set(workflowId, { at: Date.now(), permit });
}

function applyRecent(resource) {
  for (const [workflowId, { at, permit }] of resource.recent) {
    if (Date.now() - at > RECENT_MS) resource.recent.delete(workflowId);
    else if (permit) resource.held.set(workflowId, permit);
    else resource.held.delete(workflowId);
  }
}

function buildCard(resource) {
  const title = `resource-${resource.name}`;
  const card = h('article', { class: 'resource', 'aria-labelledby': title, 'data-resource': resource.name },
    h('div', { class: 'card-head' },
      h('h3', { id: title }, resource.name),
      h('p', { class: 'counts' })),
    h('ul', { class: 'holders', 'aria-label': `Holders of ${resource.name}` }),
    h('div', { class: 'timeline', role: 'group', 'aria-label': `Timeline of ${resource.name}: each slot a row, each permit a bar; arrow keys move between bars` }),
    h('div', { class: 'bar-details', 'aria-live': 'polite' }),
    h('button', { type: 'button', class: 'link-button', onclick: () => showHistory(resource.name) }, `History of ${resource.name}`));
  return card;
}

function renderAll() {
  for (const resource of state.resources.values()) render(resource);
  updateNote();
}

function updateNote() {
  $('#resources-note').textContent = state.resources.size === 0
    ? `Nobody holds a resource${state.prefix ? ` whose name starts with ${state.prefix}` : ''} right now.`
    : state.complete === false ? 'Only part of the held permits was read: the list may miss resources.' : '';
}

function render(resource) {
  const { card } = resource;
  const holders = [...resource.held.values()].sort((a, b) => a.slot - b.slot);
  const waiting = resource.summary?.waitingHere ?? 0;
  $('.counts', card).textContent =
    `${holders.length} of ${resource.capacity} held` + (waiting ? ` · ${waiting} waiting on this replica` : '');
  $('.holders', card).replaceChildren(
    ...(holders.length === 0
      ? [h('li', { class: 'empty' }, 'No holders')]
      : holders.map((permit) =>
          h('li', { 'data-workflow-id': permit.workflowId, 'data-run-id': permit.runId },
            h('span', { class: 'slot' }, `slot ${permit.slot}`),
            h('span', { class: 'holder' }, permit.holder ?? '(no label)'),
            h('span', { class: 'countdown', 'data-expires-at': permit.expiresAt }, countdownText(permit.expiresAt))))),
  );
  renderTimeline(resource);
}

function countdownText(expiresAt) {
  const left = Date.parse(expiresAt) - Date.now();
  return left > 0 ? `expires in ${duration(left)}` : 'lease ended';
}

function tickCountdowns() {
  for (const element of document.querySelectorAll('.countdown')) {
    element.textContent = countdownText(element.dataset.expiresAt);
  }
}

// ---- timeline -------------------------------------------------------------------------------

/** The bars of a resource: past permits from its history, current holders up to now. */
function barsOf(resource, now) {
  const from = now - state.windowMs;
  const bars = resource.history
    .filter((entry) => Date.parse(entry.endedAt) >= from)
    .map((entry) => ({ ...entry, start: Date.parse(entry.acquiredAt), end: Date.parse(entry.endedAt) }));
  for (const permit of resource.held.values()) {
    // A holder's recorded start may come before its predecessor's end (Temporal stamps a start before
    // it finds the slot free); like the history, the bar starts at the later of the two.
    const previousEnd = Math.max(0, ...bars.filter((bar) => bar.slot === permit.slot).map((bar) => bar.end));
    const start = Math.max(Date.parse(permit.acquiredAt), previousEnd);
    bars.push({ ...permit, outcome: 'held', start, end: now, endedAt: null });
  }
  // Left to right within each slot, slot by slot: the order the arrow keys walk.
  return bars.filter((bar) => bar.end >= from).sort((a, b) => a.slot - b.slot || a.start - b.start);
}

function renderTimeline(resource) {
  const now = Date.now();
  const from = now - state.windowMs;
  const bars = barsOf(resource, now);
  const slots = Math.max(resource.capacity, ...bars.map((bar) => bar.slot + 1));
  const timeline = $('.timeline', resource.card);
  const focusedRun = timeline.contains(document.activeElement) ? document.activeElement.dataset.runId : null;
  const rows = [];
  for (let slot = 0; slot < Math.min(slots, 64); slot++) {
    const track = h('div', { class: 'track' });
    for (const bar of bars.filter((candidate) => candidate.slot === slot)) {
      const left = ((Math.max(bar.start, from) - from) / state.windowMs) * 100;
      const width = ((bar.end - Math.max(bar.start, from)) / state.windowMs) * 100;
      const label = `${bar.holder ?? 'no label'}, slot ${slot}, ${OUTCOME_TEXT[bar.outcome]}, ` +
        (bar.endedAt ? `held ${duration(bar.end - bar.start)}, ended ${clock(bar.endedAt)}` : `since ${clock(new Date(bar.start).toISOString())}`);
      track.append(h('button', {
        type: 'button',
        class: `bar ${bar.outcome}`,
        style: { left: `${left.toFixed(3)}%`, width: `${width.toFixed(3)}%` },
        tabindex: '-1',
        'aria-label': label,
        title: label,
        // A holder's runId is shown only to the key that holds it (and admins): its slot's workflow ID stands in.
        'data-run-id': bar.runId ?? bar.workflowId,
        'data-outcome': bar.outcome,
        onfocus: () => showBar(resource, bar),
        onmouseenter: () => showBar(resource, bar),
        onclick: () => showBar(resource, bar),
      }));
    }
    rows.push(h('div', { class: 'row' }, h('span', { class: 'row-label' }, `slot ${slot}`), track));
  }
  const minutes = state.windowMs / 60_000;
  const axis = h('div', { class: 'axis', 'aria-hidden': 'true' },
    h('span', {}, `${minutes} min ago`), h('span', {}, `${minutes / 2} min ago`), h('span', {}, 'now'));
  timeline.replaceChildren(...rows, axis);
  if (slots > 64) timeline.append(h('p', { class: 'note' }, `Slots 0–63 of ${slots} shown.`));
  // One tab stop per timeline (the focused or newest bar); arrow keys move between bars.
  const buttons = [...timeline.querySelectorAll('.bar')];
  const active = buttons.find((button) => button.dataset.runId === (focusedRun ?? resource.selected)) ?? buttons.at(-1);
  if (active) {
    active.tabIndex = 0;
    if (focusedRun && active.dataset.runId === focusedRun) active.focus({ preventScroll: true });
  }
}

function onTimelineKey(event) {
  const bar = event.target.closest?.('.bar');
  if (!bar) return;
  const buttons = [...bar.closest('.timeline').querySelectorAll('.bar')];
  const index = buttons.indexOf(bar);
  const target = { ArrowRight: index + 1, ArrowDown: index + 1, ArrowLeft: index - 1, ArrowUp: index - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (target === undefined || !buttons[target]) return;
  event.preventDefault();
  bar.tabIndex = -1;
  buttons[target].tabIndex = 0;
  buttons[target].focus();
}

function showBar(resource, bar) {
  resource.selected = bar.runId ?? bar.workflowId;
  const link = bar.runId ? runLink(bar.workflowId, bar.runId) : null;
  const fields = [
    ['Holder', bar.holder ?? '(no label)'],
    ['Slot', `${bar.slot} of ${bar.capacity}`],
    ['How it ended', OUTCOME_TEXT[bar.outcome]],
    ['Acquired', clock(new Date(bar.start).toISOString())],
    bar.endedAt ? ['Ended', clock(bar.endedAt)] : ['Lease ends', clock(bar.expiresAt)],
    ['Held for', duration(bar.end - bar.start)],
    ['Renewals', bar.renewals ?? '–'],
    ['Run', bar.runId ?? 'shown to its holder only'],
  ];
  if (bar.reason) fields.push(['Reason', bar.reason]);
  $('.bar-details', resource.card).replaceChildren(
    h('dl', {}, fields.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])),
    link ? h('a', { href: link, target: '_blank', rel: 'noopener' }, 'Open the run in the Temporal Web UI') : '',
  );
}

// ---- history table --------------------------------------------------------------------------

function showHistory(name) {
  $('#history-resource').value = name;
  state.history = { resource: name, before: null, stack: [] };
  loadHistoryPage().catch(showError);
  $('#history-title').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

async function loadHistoryPage() {
  const { resource, before } = state.history;
  if (!resource) return;
  const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if (before) query.set('before', before);
  const page = await api(`/resources/${encodeURIComponent(resource)}/history?${query}`);
  if (state.history.resource !== resource || state.history.before !== before) return;
  state.history.next = page.nextBefore;
  $('#history-caption').textContent = page.entries.length
    ? `Past permits of ${resource}, newest first${before ? ` (ended before ${clock(before)})` : ''}`
    : `No past permits of ${resource}${before ? ' before this page' : ''}.`;
  $('#history tbody').replaceChildren(...page.entries.map((entry) => {
    const link = entry.temporalUiUrl ?? runLink(entry.workflowId, entry.runId);
    return h('tr', { 'data-run-id': entry.runId },
      h('td', {}, h('time', { datetime: entry.endedAt }, clock(entry.endedAt))),
      h('td', {}, entry.slot),
      h('td', {}, entry.holder ?? ''),
      h('td', {}, h('time', { datetime: entry.acquiredAt }, clock(entry.acquiredAt))),
      h('td', {}, duration(entry.heldMs)),
      h('td', {}, entry.renewals),
      h('td', {}, h('span', { class: `outcome ${entry.outcome}`, title: entry.reason ?? undefined }, OUTCOME_TEXT[entry.outcome])),
      h('td', { class: 'run' }, link ? h('a', { href: link, target: '_blank', rel: 'noopener', title: `run ${entry.runId} in the Temporal Web UI` }, shortRun(entry.runId)) : h('span', { title: entry.runId }, shortRun(entry.runId))));
  }));
  $('#history-older').disabled = !page.nextBefore;
  $('#history-newer').disabled = state.history.stack.length === 0;
  $('#history-newest').disabled = !before;
}

function updateDatalist() {
  $('#resource-names').replaceChildren(...[...state.resources.keys()].map((name) => h('option', { value: name })));
}

// ---- live events ----------------------------------------------------------------------------

let stream = null;

function reconnect() {
  stream?.abort();
  for (const resource of state.resources.values()) resource.card.remove();
  state.resources.clear();
  connect();
}

/** Reads /events with fetch (so it can carry the key), parses the Server-Sent Events, reconnects. */
function connect() {
  const controller = new AbortController();
  stream = controller;
  const handlers = {
    hello: (data) => {
      state.temporalUi = data.temporalUiWorkflowsUrl;
      setLive('Live', true);
      // Events are not replayed after a reconnect: read the state again.
      loadResources().catch(showError);
      if (state.history.resource) loadHistoryPage().catch(showError);
    },
    granted: ({ permit }) => {
      if (!permit.resource.startsWith(state.prefix)) return;
      const resource = upsertResource(permit.resource);
      resource.capacity = Math.max(resource.capacity, permit.capacity);
      resource.held.set(permit.workflowId, permit);
      noteRecent(resource, permit.workflowId, permit);
      if (resource.summary && resource.summary.waitingHere > 0) resource.summary.waitingHere--;
      updateDatalist();
      render(resource);
      updateNote();
    },
    renewed: ({ permit }) => {
      const resource = state.resources.get(permit.resource);
      if (!resource) return;
      resource.held.set(permit.workflowId, { ...resource.held.get(permit.workflowId), ...permit });
      noteRecent(resource, permit.workflowId, resource.held.get(permit.workflowId));
      render(resource);
    },
    released: (data) => ended(data),
    expired: (data) => ended(data),
    refresh: ({ changed, at }) => {
      setLive(`Live · checked with Temporal at ${clock(at)}`, true);
      // The list carries the waiters and resources that appeared elsewhere; changed ones are read again.
      later('resources', 0, () => loadResources(new Set(changed)));
    },
  };
  function ended({ resource: name, slot, runId }) {
    const resource = state.resources.get(name);
    if (!resource) return;
    const workflowId = `permit:${name}:${slot}`;
    const held = resource.held.get(workflowId);
    // The slot may already have its next holder (whose runId differs); that one stays.
    if (held && held.runId && held.runId !== runId) return;
    resource.held.delete(workflowId);
    noteRecent(resource, workflowId, null);
    const pending = state.pendingEnded.get(name) ?? new Set();
    pending.add(runId);
    state.pendingEnded.set(name, pending);
    render(resource);
    later(`history:${name}`, HISTORY_RELOAD_MS, () => reloadHistory(name));
  }
  const retry = () => {
    if (controller.signal.aborted) return;
    setLive('Reconnecting…', false);
    setTimeout(() => stream === controller && connect(), 2_000);
  };
  (async () => {
    const response = await fetch('/events', { headers: authHeaders('text/event-stream'), signal: controller.signal });
    if (response.status === 401) {
      const body = await response.json().catch(() => ({}));
      setLive('An API key is needed', false);
      askForKey(body.message ?? 'This service wants an API key.');
      return;
    }
    if (!response.ok || !response.body) return retry();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return retry();
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data && handlers[type]) handlers[type](JSON.parse(data));
      }
    }
  })().catch((error) => {
    if (!controller.signal.aborted) retry();
    else if (error.name !== 'AbortError') showError(error);
  });
}

function showError(error) {
  setLive(`Could not read the service: ${error.message}`, false);
}

// ---- start ----------------------------------------------------------------------------------

$('#filter').addEventListener('submit', (event) => {
  event.preventDefault();
  state.prefix = $('#prefix').value.trim();
  state.windowMs = Number($('#window').value);
  for (const resource of state.resources.values()) resource.card.remove();
  state.resources.clear();
  loadResources().catch(showError);
});
$('#window').addEventListener('change', () => {
  state.windowMs = Number($('#window').value);
  renderAll();
});
$('#more-resources').addEventListener('click', () => moreResources().catch(showError));
$('#resources').addEventListener('keydown', onTimelineKey);
$('#history-form').addEventListener('submit', (event) => {
  event.preventDefault();
  showHistory($('#history-resource').value.trim());
});
$('#history-older').addEventListener('click', () => {
  state.history.stack.push(state.history.before);
  state.history.before = state.history.next;
  loadHistoryPage().catch(showError);
});
$('#history-newer').addEventListener('click', () => {
  state.history.before = state.history.stack.pop() ?? null;
  loadHistoryPage().catch(showError);
});
$('#history-newest').addEventListener('click', () => {
  state.history.before = null;
  state.history.stack = [];
  loadHistoryPage().catch(showError);
});
// ?prefix=… opens the page filtered, so a filtered view can be linked to.
const initialPrefix = new URLSearchParams(location.search).get('prefix');
if (initialPrefix) $('#prefix').value = state.prefix = initialPrefix;
setInterval(tickCountdowns, COUNTDOWN_MS);
setInterval(() => {
  for (const resource of state.resources.values()) renderTimeline(resource);
}, TIMELINE_REDRAW_MS);
connect();
