// The Temporal server of the cluster: its schemas set up on PostgreSQL with temporal-sql-tool, its
// config rendered from deploy/temporal/, and one `temporal-server start` process (frontend, history,
// matching and worker services) that can be SIGKILLed and started again on the same database.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { processRunning, spawnSupervised, type SupervisedProcess } from '../src/temporal/supervised-process.js';
import { readDeployFile, renderTemplate } from './templates.js';
import type { TemporalServerBuild } from './temporal-server-build.js';

const run = promisify(execFile);

export interface PostgresAddress {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The two databases the server uses, and the schema directory each is set up from. */
const DATABASES = [
  { name: 'temporal', schema: 'temporal' },
  { name: 'temporal_visibility', schema: 'visibility' },
] as const;

/**
 * Creates the databases and brings their schemas to the newest version the build ships, as an
 * operator does before the first start (and after an upgrade): create-database, setup-schema -v 0.0,
 * update-schema from the versioned directory.
 */
export async function setupSchemas(build: TemporalServerBuild, pg: PostgresAddress): Promise<void> {
  for (const database of DATABASES) {
    const base = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, '--pw', pg.password, '--db', database.name];
    const steps = [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', path.join(build.postgresSchemaDir, database.schema, 'versioned')],
    ];
    for (const step of steps) {
      try {
        await run(build.sqlTool, [...base, ...step], { timeout: 120_000 });
      } catch (error) {
        const { stderr, stdout } = error as { stderr?: string; stdout?: string };
        throw new Error(`temporal-sql-tool ${step[0]} on ${database.name} failed:\n${stderr ?? ''}${stdout ?? ''}`, { cause: error });
      }
    }
  }
}

/** The ports the server listens on, as deploy/temporal/cluster.yaml names them. */
export interface TemporalPorts {
  FRONTEND_GRPC_PORT: number;
  FRONTEND_HTTP_PORT: number;
  FRONTEND_MEMBERSHIP_PORT: number;
  HISTORY_GRPC_PORT: number;
  HISTORY_MEMBERSHIP_PORT: number;
  MATCHING_GRPC_PORT: number;
  MATCHING_MEMBERSHIP_PORT: number;
  WORKER_GRPC_PORT: number;
  WORKER_MEMBERSHIP_PORT: number;
  METRICS_PORT: number;
}

/** True when 127.0.0.1:port can be bound now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port below 32768. The SQL schema keeps a member's port in a smallint column
 * (cluster_membership.rpc_port): a membership port from Linux's ephemeral range (32768 and up) makes
 * the server fail its first heartbeat ("out of range for type smallint") and exit.
 */
async function freeLowPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await bindable(port))) return port;
  }
}

export const TEMPORAL_PORT_NAMES: ReadonlyArray<keyof TemporalPorts> = [
  'FRONTEND_GRPC_PORT', 'FRONTEND_HTTP_PORT', 'FRONTEND_MEMBERSHIP_PORT', 'HISTORY_GRPC_PORT', 'HISTORY_MEMBERSHIP_PORT',
  'MATCHING_GRPC_PORT', 'MATCHING_MEMBERSHIP_PORT', 'WORKER_GRPC_PORT', 'WORKER_MEMBERSHIP_PORT', 'METRICS_PORT',
];

async function pickPorts(): Promise<TemporalPorts> {
  const ports = new Set<number>();
  while (ports.size < TEMPORAL_PORT_NAMES.length) ports.add(await freeLowPort(ports));
  const list = [...ports];
  return Object.fromEntries(TEMPORAL_PORT_NAMES.map((name, index) => [name, list[index]!])) as unknown as TemporalPorts;
}

/** What deploy/temporal/cluster.yaml's placeholders are filled with. */
export function temporalTemplateValues(ports: TemporalPorts, postgres: PostgresAddress, dynamicConfigFile: string): Record<string, string | number> {
  return {
    ...ports,
    POSTGRES_HOST: postgres.host,
    POSTGRES_PORT: postgres.port,
    POSTGRES_USER: postgres.user,
    POSTGRES_PASSWORD: postgres.password,
    DYNAMIC_CONFIG_FILE: dynamicConfigFile,
  };
}

export interface TemporalServer {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  ports: TemporalPorts;
  /** The server process; a new one after restart(). */
  readonly pid: number;
  /** SIGKILL of the server process; resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same database and ports, and waits until the namespace takes requests. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const NAMESPACE = 'default';
const READY_TIMEOUT_MS = 180_000;
const GRPC_NOT_FOUND = 5;

/**
 * Until the frontend answers and the namespace exists and can be used: registered on the first start
 * (the full server, unlike the dev server, creates none), then read through the frontend's namespace
 * cache, which learns of a new namespace some seconds later.
 */
async function untilReady(address: string, running: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!running()) throw new Error(`temporal-server exited during start-up:\n${output()}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        const service = connection.workflowService;
        await connection.withDeadline(Date.now() + 5_000, async () => {
          try {
            await service.describeNamespace({ namespace: NAMESPACE });
          } catch (error) {
            if ((error as { code?: number }).code !== GRPC_NOT_FOUND) throw error;
            await service.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('1 day') });
          }
        });
        try {
          await connection.withDeadline(Date.now() + 5_000, () =>
            service.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId: 'cluster-readiness-probe' } }),
          );
          return;
        } catch (error) {
          const { code, message } = error as { code?: number; message?: string };
          // "workflow not found" is the answer of a usable namespace; "namespace not found" is not.
          if (code === GRPC_NOT_FOUND && !/namespace/i.test(message ?? '')) return;
          throw error;
        }
      } finally {
        await connection.close();
      }
    } catch (error) {
      last = error;
      await delay(500);
    }
  }
  throw new Error(`temporal-server at ${address} was not ready within ${READY_TIMEOUT_MS} ms (${(last as Error)?.message}):\n${output()}`);
}

/** Renders the config into `workDir/config/cluster.yaml` and starts the server on `pg`; its log goes to `logFile`. */
export async function startTemporalServer(options: {
  build: TemporalServerBuild;
  postgres: PostgresAddress;
  workDir: string;
  logFile: string;
}): Promise<TemporalServer> {
  const { build, postgres, workDir, logFile } = options;
  const ports = await pickPorts();
  const configDir = path.join(workDir, 'config');
  await fs.mkdir(configDir, { recursive: true });
  const dynamicConfigFile = path.join(workDir, 'dynamicconfig.yaml');
  await fs.writeFile(dynamicConfigFile, await readDeployFile('temporal/dynamicconfig.yaml'));
  const values = temporalTemplateValues(ports, postgres, dynamicConfigFile);
  await fs.writeFile(path.join(configDir, 'cluster.yaml'), renderTemplate(await readDeployFile('temporal/cluster.yaml'), values, 'deploy/temporal/cluster.yaml'));
  const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
  const log = createWriteStream(logFile, { flags: 'a' });

  const launch = async () => {
    const supervised = await spawnSupervised(build.server, ['--root', workDir, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start'], {
      graceMs: 10_000,
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-6_000);
      log.write(chunk);
    };
    supervised.supervisor.stdout!.on('data', keep);
    supervised.supervisor.stderr!.on('data', keep);
    try {
      await untilReady(address, () => processRunning(supervised.pid), () => output);
    } catch (error) {
      await supervised.stop();
      throw error;
    }
    return supervised;
  };

  let current: SupervisedProcess = await launch();
  return {
    address,
    namespace: NAMESPACE,
    ports,
    get pid() {
      return current.pid;
    },
    kill: async () => {
      try {
        process.kill(current.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await current.stop();
    },
    restart: async () => {
      current = await launch();
    },
    stop: async () => {
      await current.stop();
      await new Promise<void>((resolve) => log.end(() => resolve()));
    },
  };
}
