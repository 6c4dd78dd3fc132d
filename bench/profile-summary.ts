// Reads the service's V8 CPU profile (--profile) and says where its CPU time went during each
// measured phase. Start-up (workflow bundling) is excluded by cutting the samples to the phases'
// time windows: V8 stamps samples with the monotonic clock that process.hrtime reads, which is
// shared by every process on the machine.
import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../test/helpers/process.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface PhaseWindow {
  phase: string;
  /** Monotonic clock in microseconds (process.hrtime.bigint() / 1000). */
  fromUs: number;
  toUs: number;
}

export interface Share {
  name: string;
  ms: number;
  /** Percent of the busy (not idle) time in the window. */
  percent: number;
}

export interface PhaseProfile {
  phase: string;
  /** "main thread", or "thread N" (the SDK runs workflow code in worker threads). */
  thread: string;
  windowMs: number;
  busyMs: number;
  /** By package (node_modules), by source file (the service's own code), Node internals, GC. */
  byPlace: Share[];
  byFunction: Share[];
}

/** The monotonic clock in microseconds, comparable with V8 profile timestamps of any process here. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function placeOf(url: string, functionName: string): string {
  if (functionName === '(idle)' || functionName === '(garbage collector)' || functionName === '(program)') return functionName;
  if (url === '') return '(native)';
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packageMatch) return packageMatch[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return path.relative(REPO_ROOT, url.replace(/^file:\/\//, ''));
}

function top(totals: Map<string, number>, busyMs: number, count: number): Share[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), percent: Math.round((ms / busyMs) * 1000) / 10 }));
}

/** Self time by place and by function within one time window of the profile. */
export function profileWindow(profile: CpuProfile, window: PhaseWindow, thread: string): PhaseProfile {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busyMs = 0;
  let at = profile.startTime;
  for (let index = 0; index < profile.samples.length; index++) {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    if (at < window.fromUs || at > window.toUs) continue;
    const frame = nodes.get(profile.samples[index]!)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    const ms = delta / 1000;
    busyMs += ms;
    const place = placeOf(frame.url, frame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + ms);
    const name = `${frame.functionName || '(anonymous)'} ${place}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  return {
    phase: window.phase,
    thread,
    windowMs: Math.round((window.toUs - window.fromUs) / 1000),
    busyMs: Math.round(busyMs),
    byPlace: top(byPlace, busyMs || 1, 10),
    byFunction: top(byFunction, busyMs || 1, 12),
  };
}

/** Node names profiles CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile; thread 0 is the main thread. */
function threadOf(file: string): string {
  const id = file.split('.').at(-3);
  return id === '0' ? 'main thread' : `thread ${id}`;
}

/** Least busy time in a window for a thread to be worth a summary. */
const MIN_BUSY_MS = 5;

/** Summaries of every thread's .cpuprofile in dir, one per phase window, for threads that did work in it. */
export async function summarizeProfile(dir: string, windows: PhaseWindow[]): Promise<PhaseProfile[]> {
  const files = (await fs.readdir(dir)).filter((file) => file.endsWith('.cpuprofile')).sort();
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}: did the service exit cleanly?`);
  const summaries: PhaseProfile[] = [];
  const profiles = await Promise.all(
    files.map(async (file) => ({ thread: threadOf(file), profile: JSON.parse(await fs.readFile(path.join(dir, file), 'utf8')) as CpuProfile })),
  );
  for (const window of windows) {
    for (const { thread, profile } of profiles) {
      const summary = profileWindow(profile, window, thread);
      if (summary.busyMs >= MIN_BUSY_MS) summaries.push(summary);
    }
  }
  return summaries;
}

/** The summaries as readable lines for stderr. */
export function describeProfiles(profiles: PhaseProfile[]): string[] {
  const lines: string[] = [];
  for (const profile of profiles) {
    lines.push(
      `service CPU during ${profile.phase}, ${profile.thread}: busy ${profile.busyMs} ms of ${profile.windowMs} ms ` +
        `(${Math.round((profile.busyMs / Math.max(profile.windowMs, 1)) * 100)}% of one core)`,
    );
    lines.push(`  by place: ${profile.byPlace.map((share) => `${share.name} ${share.percent}%`).join(', ')}`);
    for (const share of profile.byFunction) lines.push(`  ${share.percent.toFixed(1).padStart(5)}%  ${share.name}`);
  }
  return lines;
}
