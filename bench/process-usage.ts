// Memory and CPU time of a process from /proc (Linux), read around a phase: what holding many
// permits costs the Temporal server and each replica of the service.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';

/** Clock ticks per second, the unit of /proc/<pid>/stat's CPU times (100 on usual kernels). */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcessUsage {
  /** Resident memory, MiB. */
  rssMiB: number;
  /** CPU time used so far, user and system, ms. */
  cpuMs: number;
}

/** The process's resident memory and CPU time so far; undefined when it cannot be read (gone, not Linux). */
export async function processUsage(pid: number | undefined): Promise<ProcessUsage | undefined> {
  if (pid === undefined) return undefined;
  try {
    const [stat, status] = await Promise.all([fs.readFile(`/proc/${pid}/stat`, 'utf8'), fs.readFile(`/proc/${pid}/status`, 'utf8')]);
    // The command name, in parentheses, may hold spaces: the fields are counted after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(rssKiB)) return undefined;
    return { rssMiB: rssKiB / 1024, cpuMs: (ticks * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** CPU ms the process used between two readings; undefined when either is missing. */
export function cpuMsBetween(before: ProcessUsage | undefined, after: ProcessUsage | undefined): number | undefined {
  return before && after ? after.cpuMs - before.cpuMs : undefined;
}
