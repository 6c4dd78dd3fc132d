// The Temporal server and its SQL tool, built from the go.temporal.io/server module at the version the
// pinned CLI embeds, and cached outside the repository like the CLI (keyed by version): the first
// build takes minutes on 2 cores, later runs take none. The PostgreSQL schema files come from the same
// module and are cached beside the binaries, so a cache entry is complete by itself.
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEMPORAL_SERVER_VERSION } from '../src/config.js';
import { installInto, runWithProgress } from '../src/temporal/provision-cli.js';

const run = promisify(execFile);
const MODULE = 'go.temporal.io/server';

export interface TemporalServerBuild {
  version: string;
  /** `temporal-server` (cmd/server). */
  server: string;
  /** `temporal-sql-tool` (cmd/tools/sql). */
  sqlTool: string;
  /** The module's schema/postgresql/v12 directory: temporal/ and visibility/, each with versioned/. */
  postgresSchemaDir: string;
  /** Seconds the build took; 0 when the cache had it. */
  builtInSeconds: number;
}

function layout(dir: string, builtInSeconds: number): TemporalServerBuild {
  return {
    version: TEMPORAL_SERVER_VERSION,
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    postgresSchemaDir: path.join(dir, 'schema', 'postgresql', 'v12'),
    builtInSeconds,
  };
}

async function complete(build: TemporalServerBuild): Promise<boolean> {
  try {
    await fs.access(build.server, fsConstants.X_OK);
    await fs.access(build.sqlTool, fsConstants.X_OK);
    await fs.access(path.join(build.postgresSchemaDir, 'temporal', 'versioned'));
    await fs.access(path.join(build.postgresSchemaDir, 'visibility', 'versioned'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The cached build of this version, or a new one: `go install` of cmd/server and cmd/tools/sql from
 * the Go module proxy (GOPROXY as configured), with `progress` called every 15 s while it runs.
 */
export async function provisionTemporalServer(cacheDir: string, say: (line: string) => void): Promise<TemporalServerBuild> {
  const dir = path.join(cacheDir, 'temporal-server', TEMPORAL_SERVER_VERSION);
  const cached = layout(dir, 0);
  if (await complete(cached)) return cached;

  const started = Date.now();
  say(
    `building Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool from ${MODULE} (go install; first run only, ` +
      `several minutes on 2 cores) into ${dir}`,
  );
  const tick = (seconds: number) => say(`still building temporal-server ${TEMPORAL_SERVER_VERSION}, ${seconds} s`);
  await installInto(dir, async (tmp) => {
    const gobin = path.join(tmp, 'bin');
    // Static binaries: the SQLite and PostgreSQL drivers the server links are pure Go.
    await runWithProgress(
      'go',
      ['install', `${MODULE}/cmd/server@v${TEMPORAL_SERVER_VERSION}`, `${MODULE}/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`],
      { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' },
      tick,
      15_000,
    );
    await fs.rename(path.join(gobin, 'server'), path.join(tmp, 'temporal-server'));
    await fs.rename(path.join(gobin, 'sql'), path.join(tmp, 'temporal-sql-tool'));
    await fs.rm(gobin, { recursive: true, force: true });
    // go install left the module's source in the module cache: its schema files go along.
    const { stdout } = await run('go', ['mod', 'download', '-json', `${MODULE}@v${TEMPORAL_SERVER_VERSION}`], { cwd: tmp });
    const moduleDir = (JSON.parse(stdout) as { Dir: string }).Dir;
    await fs.mkdir(path.join(tmp, 'schema', 'postgresql'), { recursive: true });
    await fs.cp(path.join(moduleDir, 'schema', 'postgresql', 'v12'), path.join(tmp, 'schema', 'postgresql', 'v12'), { recursive: true });
    // The module cache is read-only; the copy need not be.
    await run('chmod', ['-R', 'u+w', path.join(tmp, 'schema')]);
  });
  const build = layout(dir, Math.round((Date.now() - started) / 1000));
  if (!(await complete(build))) throw new Error(`the build in ${dir} is incomplete`);
  say(`built temporal-server ${TEMPORAL_SERVER_VERSION} in ${build.builtInSeconds} s`);
  return build;
}
