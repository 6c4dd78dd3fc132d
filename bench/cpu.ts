// CPU time a process has used, read from /proc/<pid>/stat (user + system, every thread included).
// Read around a phase, the difference over the grants in it gives CPU ms per grant: a figure that
// other load on the machine moves much less than wall-clock times, since a process waiting for a
// core uses none.
import fs from 'node:fs/promises';

/** Linux's USER_HZ: /proc counts CPU time in ticks of 10 ms on every mainstream build. */
const TICKS_PER_SECOND = 100;

/**
 * utime + stime of a /proc/<pid>/stat line, in ms. The command name (field 2) is in parentheses and
 * may itself hold spaces or parentheses, so the fields are counted from the last ')'.
 */
export function parseCpuMs(statLine: string): number {
  const rest = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (field 14) and stime (field 15) are at 11 and 12.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/<pid>/stat line: ${statLine.slice(0, 80)}`);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** The CPU ms the process has used so far; undefined when it is gone or /proc cannot be read (not Linux). */
export async function cpuMsOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    return parseCpuMs(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
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
