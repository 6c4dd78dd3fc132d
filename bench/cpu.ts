// CPU time a process has used (user + system, every thread included; process-usage.ts reads /proc).
// Read around a phase, the difference over the grants in it gives CPU ms per grant: a figure that
// other load on the machine moves much less than wall-clock times, since a process waiting for a
// core uses none.
import { processUsage } from './process-usage.js';

/** The CPU ms the process has used so far; undefined when it is gone or /proc cannot be read (not Linux). */
export async function cpuMsOf(pid: number | undefined): Promise<number | undefined> {
  return (await processUsage(pid))?.cpuMs;
}

/** Named processes whose CPU use a phase reports, e.g. { server: 1234, service: 5678 }. */
export type WatchedPids = Record<string, number | undefined>;

/** CPU ms each watched process used during a phase; absent where it could not be read. */
export type CpuUse = Record<string, number | undefined>;

/** Reads every watched process's CPU time now; the returned function reads it again and gives the differences. */
export async function cpuMeter(pids: WatchedPids): Promise<() => Promise<CpuUse>> {
  const names = Object.keys(pids);
  const before = await Promise.all(names.map((name) => cpuMsOf(pids[name])));
  return async () => {
    const after = await Promise.all(names.map((name) => cpuMsOf(pids[name])));
    const use: CpuUse = {};
    names.forEach((name, index) => {
      const start = before[index];
      const end = after[index];
      use[name] = start === undefined || end === undefined ? undefined : end - start;
    });
    return use;
  };
}

/** CPU ms per grant, or undefined when either is missing. */
export function perGrant(cpuMs: number | undefined, grants: number): number | undefined {
  return cpuMs === undefined || grants <= 0 ? undefined : cpuMs / grants;
}
