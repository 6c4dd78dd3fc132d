// From measured results to table rows and target checks: which figure goes in which column, what
// each ratio is taken against, and whether the issue's targets were met (and by how much if not).
import type { CpuUse } from './cpu.js';
import type { Row, TargetCheck } from './report.js';
import { formatMs, formatRate, formatRatio } from './report.js';
import type { ContentionResult } from './scenarios/contention.js';
import type { CycleSamples } from './scenarios/cycle.js';
import type { HandoffResult } from './scenarios/handoff.js';
import { anatomyNotes, anatomyRows } from './anatomy-rows.js';
import type { Anatomy } from './scenarios/anatomy.js';
import type { LargePoolResult } from './scenarios/large-pool.js';
import type { OccupancyResult } from './scenarios/occupancy.js';
import { agingRows, type AgingResult } from './scenarios/aging.js';
import { memoryRows, type MemoryResult } from './scenarios/memory.js';
import { restartRows, type RestartResult } from './scenarios/restart.js';
import type { ThroughputResult } from './scenarios/throughput.js';
import { throughputNotes, throughputRows } from './throughput-rows.js';
import { median, ratio, sequentialRate, summarize, type Summary } from './stats.js';

export interface CycleStats {
  cycle: Summary;
  acquire: Summary;
  release: Summary;
  cyclesPerSecond: number;
}

/** Summaries of sequential cycles: whole cycle, each half, and cycles per second. */
export function cycleStats(samples: CycleSamples): CycleStats {
  return {
    cycle: summarize(samples.cycleMs),
    acquire: summarize(samples.acquireMs),
    release: summarize(samples.releaseMs),
    cyclesPerSecond: sequentialRate(samples.cycleMs),
  };
}

/** Means over the measured HTTP cycles: as the client saw them, inside Fastify, inside the permit service. */
export interface CycleBreakdown {
  acquire: { clientMs: number; fastifyMs?: number; permitServiceMs?: number; rawMs: number };
  release: { clientMs: number; fastifyMs?: number; rawMs: number };
  /** Calls on the resource's capacity record during the measured cycles (the capacity rule's cost). */
  capacityRecordCalls?: { calls?: number; cycles: number };
  /** The history reads of the new runs' fencing numbers during the measured cycles (the fencing number's cost). */
  fencingSeqReads?: { reads?: number; meanMs?: number; cycles: number };
}

export interface TemporalResults {
  raw: CycleStats;
  http: CycleStats;
  floor: Summary;
  /** The honest floor: start + terminate on a task queue no worker polls (absent from results of older runs). */
  unpolled?: CycleStats;
  /** The service's PERMIT_START_DELAY, which the raw and floor starts use too. */
  startDelay?: string;
  /** CPU ms the server and the service used during each cycle subject's measured blocks, by subject label. */
  cycleCpuMs?: Record<string, CpuUse>;
  throughput?: ThroughputResult;
  anatomy?: Anatomy;
  /** The second service of a --compare-env run, measured interleaved with the first. */
  compared?: { label: string; cycle: CycleStats; handoffRelease?: HandoffResult; throughput?: ThroughputResult };
  /** History reads for fencing numbers during the throughput phase (none when the start's answer carries it). */
  throughputFencingReads?: number | undefined;
  breakdown?: CycleBreakdown;
  /** The service's own counters over the contention phase. */
  contentionStarts?: { attempts?: number; busy?: number; granted?: number };
  contention?: ContentionResult;
  handoffRelease?: HandoffResult;
  handoffExpiry?: HandoffResult;
  occupancy?: OccupancyResult;
  largePool?: LargePoolResult;
  restart?: RestartResult;
  aging?: AgingResult;
  memory?: MemoryResult;
}

export interface PeerResults {
  peer: 'redis' | 'etcd' | 'throttle';
  system: string;
  skipped?: string;
  cycle?: CycleStats;
  contention?: ContentionResult;
  /** Why contention was not measured for this peer. */
  contentionNotApplicable?: string;
  handoffRelease?: HandoffResult;
  handoffExpiry?: HandoffResult;
  handoffExpiryNotApplicable?: string;
  throughput?: ThroughputResult;
  /** How the peer's waiters notice a freed lock, shown in the system column. */
  waiting: string;
}

export interface Limits {
  httpCycleVsRaw: number;
  /** Issue 12: the HTTP cycle against the honest floor (start + terminate with no worker). */
  httpCycleVsFloor: number;
  handoffMs: number;
  occupancy99Vs0: number;
  contentionVsRaw: number;
}

/** The targets of issue 3. */
export const TARGETS: Limits = { httpCycleVsRaw: 1.3, httpCycleVsFloor: 1.5, handoffMs: 25, occupancy99Vs0: 3, contentionVsRaw: 0.7 };

const percentOver = (value: number, limit: number) => `${Math.round((value / limit - 1) * 100)}% over`;
const percentShort = (value: number, limit: number) => `${Math.round((1 - value / limit) * 100)}% short`;

function atMost(value: number | undefined, limit: number, show: (v: number) => string): { met: boolean; text: string } {
  if (value === undefined) return { met: false, text: 'no: not measured' };
  if (value <= limit) return { met: true, text: 'yes' };
  return { met: false, text: `no: ${show(value)}, ${percentOver(value, limit)} ${show(limit)}` };
}

function summaryOf(samples: readonly number[]): Summary | undefined {
  return samples.length > 0 ? summarize(samples) : undefined;
}

export interface Table {
  rows: Row[];
  targets: TargetCheck[];
  /** Lines printed under the table: errors, cancelled waits, skipped peers. */
  notes: string[];
}

/** Builds every row of the table and checks the targets. */
export function buildTable(temporal: TemporalResults, peers: PeerResults[], contentionLabel: string): Table {
  const rows: Row[] = [];
  const targets: TargetCheck[] = [];
  const notes: string[] = [];
  const { raw, http } = temporal;
  const vsCycle = (p50: number | undefined) => formatRatio(ratio(p50, raw.cycle.p50), 'raw cycle');
  const vsStart = (p50: number | undefined) => formatRatio(ratio(p50, raw.acquire.p50), 'raw start');
  const check = (name: string, target: string, measured: string, result: { met: boolean; text: string }) => {
    targets.push({ name, target, measured, met: result.met });
    return result.text;
  };

  rows.push({
    scenario: 'acquire+release cycle, sequential',
    system: 'raw Temporal SDK: start + terminate',
    p50: raw.cycle.p50,
    p99: raw.cycle.p99,
    throughput: formatRate(raw.cyclesPerSecond, 'cycles/s'),
    vsRaw: '1.00× (the design baseline)',
  });
  const httpRatio = ratio(http.cycle.p50, raw.cycle.p50);
  rows.push({
    scenario: 'acquire+release cycle, sequential',
    system: 'service: POST acquire + DELETE',
    p50: http.cycle.p50,
    p99: http.cycle.p99,
    throughput: formatRate(http.cyclesPerSecond, 'cycles/s'),
    vsRaw: vsCycle(http.cycle.p50),
    target: `p50 ≤ ${TARGETS.httpCycleVsRaw}× raw`,
    met: check('HTTP cycle p50 vs raw cycle p50', `≤ ${TARGETS.httpCycleVsRaw}×`, formatRatio(httpRatio), atMost(httpRatio, TARGETS.httpCycleVsRaw, (v) => formatRatio(v))),
  });
  const { unpolled } = temporal;
  if (unpolled) {
    const floorRatio = ratio(http.cycle.p50, unpolled.cycle.p50);
    rows.splice(1, 0, {
      scenario: 'acquire+release cycle, sequential',
      system: 'honest floor: the same start + terminate, on a task queue no worker polls',
      p50: unpolled.cycle.p50,
      p99: unpolled.cycle.p99,
      throughput: formatRate(unpolled.cyclesPerSecond, 'cycles/s'),
      vsRaw: formatRatio(ratio(unpolled.cycle.p50, raw.cycle.p50), 'raw cycle'),
    });
    rows.push({
      scenario: '… the same cycle against the honest floor',
      system: 'service: POST acquire + DELETE',
      p50: http.cycle.p50,
      p99: http.cycle.p99,
      vsRaw: formatRatio(floorRatio, 'the honest floor'),
      target: `p50 ≤ ${TARGETS.httpCycleVsFloor}× the floor`,
      met: check(
        'HTTP cycle p50 vs the honest floor p50',
        `≤ ${TARGETS.httpCycleVsFloor}×`,
        formatRatio(floorRatio),
        atMost(floorRatio, TARGETS.httpCycleVsFloor, (v) => formatRatio(v)),
      ),
    });
    rows.push({ scenario: '… its acquire alone', system: 'honest floor: workflow start', p50: unpolled.acquire.p50, p99: unpolled.acquire.p99 });
  }
  rows.push({ scenario: '… its acquire alone', system: 'raw: workflow start', p50: raw.acquire.p50, p99: raw.acquire.p99 });
  rows.push({ scenario: '… its acquire alone', system: 'service: POST acquire', p50: http.acquire.p50, p99: http.acquire.p99, vsRaw: vsStart(http.acquire.p50) });
  if (unpolled) rows.push({ scenario: '… its release alone', system: 'honest floor: terminate', p50: unpolled.release.p50, p99: unpolled.release.p99 });
  rows.push({ scenario: '… its release alone', system: 'raw: terminate', p50: raw.release.p50, p99: raw.release.p99 });
  rows.push({
    scenario: '… its release alone',
    system: 'service: DELETE',
    p50: http.release.p50,
    p99: http.release.p99,
    vsRaw: formatRatio(ratio(http.release.p50, raw.release.p50), 'raw terminate'),
  });
  rows.push({ scenario: 'HTTP round trip without lock work', system: 'service: GET /healthz', p50: temporal.floor.p50, p99: temporal.floor.p99 });

  const { compared } = temporal;
  if (compared) {
    rows.push({
      scenario: 'acquire+release cycle, sequential',
      system: `service with ${compared.label}: POST acquire + DELETE`,
      p50: compared.cycle.cycle.p50,
      p99: compared.cycle.cycle.p99,
      throughput: formatRate(compared.cycle.cyclesPerSecond, 'cycles/s'),
      vsRaw: `${vsCycle(compared.cycle.cycle.p50)}${unpolled ? `; ${formatRatio(ratio(compared.cycle.cycle.p50, unpolled.cycle.p50), 'the honest floor')}` : ''}`,
    });
    rows.push({ scenario: '… its acquire alone', system: `service with ${compared.label}: POST acquire`, p50: compared.cycle.acquire.p50, p99: compared.cycle.acquire.p99, vsRaw: vsStart(compared.cycle.acquire.p50) });
    rows.push({ scenario: '… its release alone', system: `service with ${compared.label}: DELETE`, p50: compared.cycle.release.p50, p99: compared.cycle.release.p99 });
  }
  if (temporal.breakdown) breakdownNotes(temporal.breakdown, notes);
  if (unpolled) notes.push(floorNote(temporal, unpolled));
  if (temporal.cycleCpuMs) {
    notes.push(cycleCpuNote(temporal.cycleCpuMs, { unpolled: unpolled?.cycle.count, raw: raw.cycle.count, http: http.cycle.count, compared: compared?.cycle.cycle.count }));
  }
  if (temporal.contention) {
    rows.push(contentionRow(temporal.contention, contentionLabel, 'service', raw.cyclesPerSecond, check, notes));
    const starts = temporal.contentionStarts;
    if (starts?.attempts !== undefined && starts.granted) {
      notes.push(
        `service contention: the service tried ${(starts.attempts / starts.granted).toFixed(1)} workflow starts per grant ` +
          `(${starts.attempts} starts, ${starts.busy ?? '?'} of them on a busy slot, ${starts.granted} grants, warm-up and cancelled tail included)`,
      );
    }
  }
  if (temporal.handoffRelease) {
    const summary = summaryOf(temporal.handoffRelease.latenciesMs);
    rows.push({
      scenario: 'hand-off after release',
      system: 'service (same replica)',
      p50: summary?.p50,
      p99: summary?.p99,
      vsRaw: vsCycle(summary?.p50),
      target: `p50 ≤ ${TARGETS.handoffMs} ms`,
      met: check('hand-off after release p50', `≤ ${TARGETS.handoffMs} ms`, formatMs(summary?.p50), atMost(summary?.p50, TARGETS.handoffMs, formatMs)),
    });
    errorNote(notes, 'service hand-off after release', temporal.handoffRelease);
  }
  if (compared?.handoffRelease) {
    const summary = summaryOf(compared.handoffRelease.latenciesMs);
    rows.push({ scenario: 'hand-off after release', system: `service with ${compared.label} (same replica)`, p50: summary?.p50, p99: summary?.p99, vsRaw: vsCycle(summary?.p50) });
    errorNote(notes, `service with ${compared.label} hand-off after release`, compared.handoffRelease);
  }
  if (temporal.handoffExpiry) {
    const summary = summaryOf(temporal.handoffExpiry.latenciesMs);
    rows.push({ scenario: 'hand-off after lease expiry (1 s lease)', system: 'service', p50: summary?.p50, p99: summary?.p99 });
    errorNote(notes, 'service hand-off after expiry', temporal.handoffExpiry);
  }
  if (temporal.occupancy) occupancyRows(temporal.occupancy, vsStart, check, rows, notes);
  if (temporal.anatomy) {
    rows.push(...anatomyRows(temporal.anatomy));
    notes.push(...anatomyNotes(temporal.anatomy));
  }
  if (temporal.throughput) {
    rows.push(...throughputRows('service', temporal.throughput));
    notes.push(...throughputNotes('service', temporal.throughput, temporal.throughputFencingReads));
  }
  if (compared?.throughput) {
    rows.push(...throughputRows(`service with ${compared.label}`, compared.throughput));
    notes.push(...throughputNotes(`service with ${compared.label}`, compared.throughput));
  }
  if (temporal.largePool) largePoolRows(temporal.largePool, check, rows, notes);
  if (temporal.restart) restartRows(temporal.restart, check, rows, notes);
  if (temporal.aging) agingRows(temporal.aging, check, rows, notes);
  if (temporal.memory) memoryRows(temporal.memory, rows, notes);

  for (const peer of peers) {
    peerRows(peer, raw, contentionLabel, vsCycle, rows, notes);
    if (peer.throughput) {
      rows.push(...throughputRows(peer.system, peer.throughput));
      notes.push(...throughputNotes(peer.system, peer.throughput));
    }
  }
  return { rows, targets, notes };
}

type Check = (name: string, target: string, measured: string, result: { met: boolean; text: string }) => string;

function contentionRow(result: ContentionResult, label: string, system: string, rawPerSecond: number, check: Check | undefined, notes: string[]): Row {
  const waits = summaryOf(result.waitsMs);
  const share = ratio(result.grantsPerSecond, rawPerSecond);
  const row: Row = {
    scenario: `contention: ${label}, wait for a grant`,
    system,
    p50: waits?.p50,
    p99: waits?.p99,
    throughput: `${formatRate(result.grantsPerSecond, 'grants/s')}, peak ${result.peakHolders} holders`,
    vsRaw: formatRatio(share, 'raw cycles/s'),
  };
  if (check) {
    const limit = TARGETS.contentionVsRaw;
    const capacity = Number(/capacity (\d+)/.exec(label)?.[1] ?? NaN);
    const overlap = !(result.peakHolders <= capacity);
    const fast = share !== undefined && share >= limit;
    row.target = `≥ ${limit}× raw cycles/s, peak ≤ ${capacity}`;
    const problems = [
      ...(fast ? [] : [`${formatRatio(share)}, ${share === undefined ? 'not measured' : percentShort(share, limit)} of ${limit}×`]),
      ...(overlap ? [`peak ${result.peakHolders} holders > ${capacity}`] : []),
    ];
    row.met = check('contention grants/s vs raw cycles/s, no overlap', `≥ ${limit}×, peak ≤ ${capacity}`, `${formatRatio(share)}, peak ${result.peakHolders}`, {
      met: problems.length === 0,
      text: problems.length === 0 ? 'yes' : `no: ${problems.join('; ')}`,
    });
  }
  if (result.errors > 0) notes.push(`${system} contention: ${result.errors} errors, e.g. ${result.firstErrors[0]}`);
  const perClient = [...result.grantsPerClient].sort((a, b) => a - b);
  notes.push(
    `${system} contention: ${result.grants} grants in ${result.windowMs / 1000} s, per client ${perClient[0]} to ${perClient.at(-1)} ` +
      `(median ${median(perClient)}); ${result.cancelledWaits} acquires still waiting at the end were cancelled (not in the wait figures)`,
  );
  return row;
}

function occupancyRows(result: OccupancyResult, vsStart: (p50: number | undefined) => string, check: Check, rows: Row[], notes: string[]): void {
  const empty = result.levels.find((level) => level.percent === 0);
  const emptyP50 = empty && empty.acquireMs.length > 0 ? summarize(empty.acquireMs).p50 : undefined;
  for (const level of result.levels) {
    const summary = summaryOf(level.acquireMs);
    const attempts = level.startAttemptsPerAcquire;
    const row: Row = {
      scenario: `acquire at ${level.percent}% of 1,000 slots held`,
      system: 'service: POST acquire',
      p50: summary?.p50,
      p99: summary?.p99,
      throughput: attempts === undefined ? 'starts/acquire n/a' : `${attempts.toFixed(1)} starts/acquire`,
      vsRaw: vsStart(summary?.p50),
    };
    if (level.percent === 99 && empty) {
      const growth = ratio(summary?.p50, emptyP50);
      row.target = `p50 ≤ ${TARGETS.occupancy99Vs0}× the 0% p50`;
      row.met = check('acquire p50 at 99% vs 0% occupancy', `≤ ${TARGETS.occupancy99Vs0}×`, formatRatio(growth), atMost(growth, TARGETS.occupancy99Vs0, (v) => formatRatio(v)));
      if (growth !== undefined) row.vsRaw = `${row.vsRaw}; ${formatRatio(growth)} the 0% p50`;
    }
    rows.push(row);
    if (level.busyAnswers + level.errors > 0) {
      notes.push(`acquire at ${level.percent}%: ${level.busyAnswers} busy answers and ${level.errors} errors with free slots left, e.g. ${level.firstErrors[0]}`);
    }
  }
  if (result.fillErrors + result.releaseErrors > 0) notes.push(`occupancy: ${result.fillErrors} fill acquires and ${result.releaseErrors} releases failed`);
  notes.push(
    `occupancy: filling took ${(result.fillMs / 1000).toFixed(1)} s in all; after each level's fill the worker needed ` +
      `${result.settleMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')} to run the new permits' first workflow tasks, ` +
      'and the timed acquires start after that (during it, acquires are slower: they queue behind the burst)',
  );
}

/** Issue 12's targets for a waiter on one replica finding a slot released on another, on a large pool. */
export const LARGE_POOL_TARGETS = { p50Ms: 1_000, p99Ms: 3_000 };

function largePoolRows(result: LargePoolResult, check: Check, rows: Row[], notes: string[]): void {
  const { p50Ms, p99Ms } = LARGE_POOL_TARGETS;
  const mib = (value: number | undefined) => (value === undefined ? '?' : `${Math.round(value)} MiB`);
  const ms = (value: number | undefined) => (value === undefined ? '?' : `${value.toFixed(1)} ms`);
  const cores = (value: number | undefined) => (value === undefined ? '?' : `${value.toFixed(3)} cores`);
  for (const level of result.levels) {
    const slots = level.capacity.toLocaleString('en-US');
    const summary = summaryOf(level.latenciesMs);
    const tried = level.latenciesMs.length + level.notFound;
    const problems = [
      ...(summary === undefined ? ['not measured'] : []),
      ...(summary && summary.p50 > p50Ms ? [`p50 ${formatMs(summary.p50)}, ${percentOver(summary.p50, p50Ms)} ${formatMs(p50Ms)}`] : []),
      ...(summary && summary.p99 > p99Ms ? [`p99 ${formatMs(summary.p99)}, ${percentOver(summary.p99, p99Ms)} ${formatMs(p99Ms)}`] : []),
      ...(level.notFound > 0 ? [`${level.notFound} of ${tried} waits ran out`] : []),
    ];
    rows.push({
      scenario: `waiter on replica B gets a slot released on replica A, ${slots} slots held`,
      system: 'service, two replicas',
      p50: summary?.p50,
      p99: summary?.p99,
      throughput: `${level.latenciesMs.length} of ${tried} found`,
      target: `p50 ≤ ${formatMs(p50Ms)}, p99 ≤ ${formatMs(p99Ms)}`,
      met: check(
        `large pool (${slots} slots): release on A to grant on B`,
        `p50 ≤ ${formatMs(p50Ms)}, p99 ≤ ${formatMs(p99Ms)}, none lost`,
        `p50 ${formatMs(summary?.p50)}, p99 ${formatMs(summary?.p99)}, ${level.notFound} ran out`,
        { met: problems.length === 0, text: problems.length === 0 ? 'yes' : `no: ${problems.join('; ')}` },
      ),
    });
    if (level.errors > 0) notes.push(`large pool ${slots}: ${level.errors} trials failed, e.g. ${level.firstErrors[0]}`);
    const queued = summaryOf(level.queuedAfterMs);
    const b = level.replicaB;
    notes.push(
      `large pool ${slots}: filling through A took ${(level.fillMs / 1000).toFixed(1)} s (${Math.round(level.capacity / (level.fillMs / 1000))} permits/s, ` +
        `${level.fillErrors} failed), then ${(level.settleMs / 1000).toFixed(1)} s until A's worker had run the newest permits' first task; ` +
        `CPU per permit filled: Temporal ${ms(level.fillCpuMsPerPermit.temporal)}, replica A ${ms(level.fillCpuMsPerPermit.replicaA)}. ` +
        `Held: RSS Temporal ${mib(level.rssMiB.temporal)}, replica A ${mib(level.rssMiB.replicaA)}, replica B ${mib(level.rssMiB.replicaB)}; ` +
        `idle CPU Temporal ${cores(level.idleCores.temporal)}, A ${cores(level.idleCores.replicaA)}, B ${cores(level.idleCores.replicaB)}. ` +
        `Releasing the pool took ${(level.releaseMs / 1000).toFixed(1)} s.`,
    );
    notes.push(
      `large pool ${slots}: B queued each caller after ${queued ? formatMs(queued.p50) : '?'} (p50; its first search of the pool), ` +
        `made ${b.looks ?? '?'} looks in visibility and ${b.startAttempts ?? '?'} workflow starts over ${tried} trials; passes ` +
        `${Object.entries(b.passes).map(([reason, count]) => `${reason} ${count ?? 0}`).join(', ')}` +
        (level.releaseErrors > 0 ? `; ${level.releaseErrors} releases failed at the end` : ''),
    );
  }
}

function peerRows(peer: PeerResults, raw: CycleStats, contentionLabel: string, vsCycle: (p50: number | undefined) => string, rows: Row[], notes: string[]): void {
  if (peer.skipped) {
    rows.push({ scenario: 'all peer scenarios', system: peer.system, throughput: `skipped: ${peer.skipped}` });
    notes.push(`peer ${peer.peer} skipped: ${peer.skipped}`);
    return;
  }
  if (peer.cycle) {
    rows.push({
      scenario: 'acquire+release cycle, sequential',
      system: peer.system,
      p50: peer.cycle.cycle.p50,
      p99: peer.cycle.cycle.p99,
      throughput: formatRate(peer.cycle.cyclesPerSecond, 'cycles/s'),
      vsRaw: vsCycle(peer.cycle.cycle.p50),
    });
  }
  if (peer.contention) rows.push(contentionRow(peer.contention, contentionLabel, peer.system, raw.cyclesPerSecond, undefined, notes));
  else if (peer.contentionNotApplicable) {
    rows.push({ scenario: `contention: ${contentionLabel}`, system: peer.system, throughput: `n/a: ${peer.contentionNotApplicable}` });
  }
  if (peer.handoffRelease) {
    const summary = summaryOf(peer.handoffRelease.latenciesMs);
    rows.push({ scenario: 'hand-off after release', system: `${peer.system}, ${peer.waiting}`, p50: summary?.p50, p99: summary?.p99, vsRaw: vsCycle(summary?.p50) });
    errorNote(notes, `${peer.peer} hand-off after release`, peer.handoffRelease);
  }
  if (peer.handoffExpiry) {
    const summary = summaryOf(peer.handoffExpiry.latenciesMs);
    rows.push({ scenario: 'hand-off after lease expiry (1 s lease)', system: `${peer.system}, ${peer.waiting}`, p50: summary?.p50, p99: summary?.p99 });
    errorNote(notes, `${peer.peer} hand-off after expiry`, peer.handoffExpiry);
  } else if (peer.handoffExpiryNotApplicable) {
    rows.push({ scenario: 'hand-off after lease expiry (1 s lease)', system: peer.system, throughput: `n/a: ${peer.handoffExpiryNotApplicable}` });
  }
}

function breakdownNotes({ acquire, release, capacityRecordCalls, fencingSeqReads }: CycleBreakdown, notes: string[]): void {
  const ms = (value: number | undefined) => (value === undefined ? '?' : `${value.toFixed(2)} ms`);
  const outside = (client: number, fastify: number | undefined) => (fastify === undefined ? undefined : client - fastify);
  notes.push(
    `service cycle, where an acquire's time goes (means): the client waited ${ms(acquire.clientMs)}; Fastify spent ${ms(acquire.fastifyMs)} ` +
      `on the request, ${ms(acquire.permitServiceMs)} of it in PermitService.acquire; so ${ms(outside(acquire.clientMs, acquire.fastifyMs))} ` +
      `went to the connection, parsing and the client. The raw SDK start took ${ms(acquire.rawMs)}.`,
  );
  notes.push(
    `service cycle, where a release's time goes (means): the client waited ${ms(release.clientMs)}; Fastify spent ${ms(release.fastifyMs)}; ` +
      `so ${ms(outside(release.clientMs, release.fastifyMs))} outside it. The raw SDK terminate took ${ms(release.rawMs)}.`,
  );
  if (capacityRecordCalls) {
    notes.push(
      `service cycle, the capacity rule's cost: ${capacityRecordCalls.calls ?? '?'} calls on the resource's capacity record ` +
        `in ${capacityRecordCalls.cycles} measured cycles (the replica learned the capacity during the warm-up; a lease renewal every ` +
        `CAPACITY_LEASE_MS / 2 is the steady-state cost).`,
    );
  }
  if (fencingSeqReads) {
    notes.push(
      `service cycle, the fencing number's cost: ${fencingSeqReads.reads ?? '?'} history reads of a new run's start event in ` +
        `${fencingSeqReads.cycles} measured cycles, ${ms(fencingSeqReads.meanMs)} each on average (inside PermitService.acquire).`,
    );
  }
}

function errorNote(notes: string[], what: string, result: HandoffResult): void {
  if (result.errors > 0) notes.push(`${what}: ${result.errors} errors, e.g. ${result.firstErrors[0]}`);
}

/** Where the HTTP cycle's time goes beyond the honest floor: the worker's first workflow task, then the service. */
function floorNote(temporal: TemporalResults, unpolled: CycleStats): string {
  const { raw, http, breakdown } = temporal;
  const ms = (value: number | undefined) => (value === undefined ? '?' : `${value.toFixed(2)} ms`);
  const fencing = breakdown?.fencingSeqReads;
  const reads = fencing?.reads ?? 0;
  const worker =
    temporal.startDelay === 'lease'
      ? `with the worker polling (raw) ${ms(raw.cycle.p50)} (the start delay holds every first workflow task back, so neither runs one)`
      : `with a worker running the workflow (raw) ${ms(raw.cycle.p50)}, so the worker's first workflow task adds ${ms(raw.cycle.p50 - unpolled.cycle.p50)}`;
  return (
    `the honest floor and the cycle (p50): floor ${ms(unpolled.cycle.p50)}; ${worker}; ` +
    `through the service ${ms(http.cycle.p50)}, ${ms(http.cycle.p50 - raw.cycle.p50)} more: the HTTP hops, the service's own work ` +
    (reads > 0 ? `and ${reads} fencing-number reads (${ms(fencing?.meanMs)} each on average)` : 'and no fencing-number read (the start answered it)')
  );
}

function cycleCpuNote(cpu: Record<string, CpuUse>, counts: Record<string, number | undefined>): string {
  const perCycle = (label: string, process: string) => {
    const used = cpu[label]?.[process];
    const count = counts[label];
    return used === undefined || !count ? '?' : (used / count).toFixed(2);
  };
  const shown: Record<string, string> = { unpolled: 'honest floor', raw: 'raw', http: 'service', compared: 'compared service' };
  const parts = ['unpolled', 'raw', 'http', 'compared']
    .filter((label) => cpu[label])
    .map((label) => `${shown[label]} ${perCycle(label, 'server')} / ${perCycle(label, label === 'compared' ? 'compared' : 'service')}`);
  return (
    `CPU ms per sequential cycle, Temporal server / service process (during each subject's blocks; work a cycle leaves ` +
    `behind may fall into the next block): ${parts.join('; ')}`
  );
}
