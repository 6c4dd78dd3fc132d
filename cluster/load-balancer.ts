// HAProxy in front of the API replicas, from deploy/haproxy/haproxy.cfg, in the foreground (-db) so
// it is one process the cluster can stop.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { spawnSupervised, type SupervisedProcess } from '../src/temporal/supervised-process.js';
import { REPO_ROOT } from '../test/helpers/process.js';
import { DEPLOY_DIR, readDeployFile, renderTemplate } from './templates.js';

const run = promisify(execFile);

/** haproxy and postgresql from Debian, installed when missing (scripts/install-cluster-packages.sh). */
export async function ensureClusterPackages(): Promise<void> {
  try {
    await run('bash', [path.join(REPO_ROOT, 'scripts', 'install-cluster-packages.sh')], { timeout: 600_000 });
  } catch (error) {
    throw new Error(`could not install the cluster's packages: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`, { cause: error });
  }
}

export interface LoadBalancer {
  url: string;
  stop(): Promise<void>;
}

/** What deploy/haproxy/haproxy.cfg's placeholders are filled with. */
export function haproxyTemplateValues(ports: { port: number; apiPort: number; allPort: number }): Record<string, string | number> {
  return { LB_PORT: ports.port, API_PORT: ports.apiPort, ALL_PORT: ports.allPort, ERRORS_DIR: path.join(DEPLOY_DIR, 'haproxy', 'errors') };
}

/** Renders the config with the ports given, checks it (haproxy -c), starts HAProxy and waits until it listens. */
export async function startLoadBalancer(options: {
  port: number;
  apiPort: number;
  allPort: number;
  workDir: string;
  logFile: string;
}): Promise<LoadBalancer> {
  const config = renderTemplate(await readDeployFile('haproxy/haproxy.cfg'), haproxyTemplateValues(options), 'deploy/haproxy/haproxy.cfg');
  const file = path.join(options.workDir, 'haproxy.cfg');
  await fs.writeFile(file, config);
  try {
    await run('haproxy', ['-c', '-q', '-f', file]);
  } catch (error) {
    throw new Error(`haproxy refuses ${file}: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`, { cause: error });
  }
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const proxy: SupervisedProcess = await spawnSupervised('haproxy', ['-db', '-f', file], { graceMs: 5_000 });
  proxy.supervisor.stdout!.pipe(log);
  proxy.supervisor.stderr!.pipe(log);
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      break;
    } catch {
      if (Date.now() > deadline || proxy.supervisor.exitCode !== null) {
        await proxy.stop();
        throw new Error(`haproxy did not listen on ${url}; see ${options.logFile}`);
      }
      await delay(100);
    }
  }
  return {
    url,
    stop: async () => {
      await proxy.stop();
      log.end();
    },
  };
}
