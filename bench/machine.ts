// What the figures were measured on, so a reader can judge them (absolute times move with the machine).
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
}

export interface SourceInfo {
  commit: string;
  /** Tracked files other than the results themselves differ from the commit. */
  dirty: boolean;
}

/** CPU model, core count, memory, OS and Node version of this machine. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** The commit the benchmark ran from, and whether tracked files had uncommitted changes. */
export async function sourceInfo(): Promise<SourceInfo> {
  try {
    const commit = (await execFileAsync('git', ['rev-parse', '--short', 'HEAD'])).stdout.trim();
    // latest.json is tracked and rewritten by every run, so it would make every later run look dirty.
    const status = (await execFileAsync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results'])).stdout.trim();
    return { commit, dirty: status !== '' };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}
