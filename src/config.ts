import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ResourceNameSchema } from './permits/resource-name.js';
import { SERVICE_ROLES, type ServiceRole } from './service-role.js';
import { DEFAULT_MAX_RENEWALS, PERMIT_START_DELAYS, PERMIT_WORKFLOW_TASK_TIMEOUT_MS, type PermitStartDelay } from './temporal/messages.js';

/** Pinned Temporal CLI release; the pip package and the go module use the same version number. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
/**
 * The Temporal server that CLI embeds (`go version -m` on it lists go.temporal.io/server), built from
 * its Go module by `npm run cluster`, so the cluster runs the server the tests and the dev server run.
 */
export const TEMPORAL_SERVER_VERSION = '1.29.1';

// z.coerce.boolean() turns "false" into true, so booleans are parsed explicitly.
const booleanFromString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** Parses "gpu-pool=3,db=1" into { "gpu-pool": 3, db: 1 }. */
const resourceCapacitiesSchema = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const capacities: Record<string, number> = {};
    for (const entry of raw.split(',').map((part) => part.trim()).filter(Boolean)) {
      const match = /^([^=]+)=\s*(\d+)$/.exec(entry);
      const name = match?.[1]?.trim() ?? '';
      if (!match || !ResourceNameSchema.safeParse(name).success) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not <resource>=<capacity>` });
        continue;
      }
      capacities[name] = Number(match[2]);
    }
    return capacities;
  });

const DURATION_UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90m", "24h", "7d": a whole number with one unit (s, m, h or d), in milliseconds. */
const durationSchema = (minMs: number, maxMs: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+[smhd]$/, 'must be a whole number with a unit s, m, h or d, such as 24h or 7d')
    .transform((text) => Number(text.slice(0, -1)) * DURATION_UNIT_MS[text.slice(-1) as keyof typeof DURATION_UNIT_MS])
    .pipe(z.number().min(minMs, `must be at least ${minMs / 1000} s`).max(maxMs, `must be at most ${maxMs / 86_400_000} days`));

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Every setting, each read from the environment variable of the same name. */
export const EnvSchema = z
  .object({
    PORT: int(0, 65535).default(8080),
    HOST: z.string().min(1).default('127.0.0.1'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SERVICE_ROLE: z.enum(SERVICE_ROLES).default('all'),
    DATA_DIR: z.string().min(1).default('./data'),

    TEMPORAL_ADDRESS: optionalString,
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('lock-service'),
    TEMPORAL_TLS: booleanFromString.optional(),
    TEMPORAL_TLS_CERT: optionalString,
    TEMPORAL_TLS_KEY: optionalString,
    TEMPORAL_TLS_CA: optionalString,
    TEMPORAL_TLS_SERVER_NAME: optionalString,
    TEMPORAL_API_KEY: optionalString,
    TEMPORAL_RPC_TIMEOUT_MS: int(100, 60_000).default(5_000),
    TEMPORAL_UI_URL: optionalString.pipe(
      z
        .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL such as http://temporal-ui.internal:8080' })
        // The URL is logged with the configuration and shown on the page: no credentials in it.
        .refine((url) => !/^[a-z]+:\/\/[^/]*@/i.test(url), 'must not contain a user name or password')
        .optional(),
    ),

    TEMPORAL_CLI: optionalString,
    TEMPORAL_CLI_CACHE_DIR: z.string().min(1).default(path.join(os.homedir(), '.cache', 'temporal-lock-service')),
    TEMPORAL_DEV_PORT: int(1, 65535).default(7233),
    TEMPORAL_DEV_UI_PORT: int(0, 65535).default(8233),
    TEMPORAL_DEV_READY_TIMEOUT_MS: int(1_000, 600_000).default(60_000),
    WORKFLOW_BUNDLE_DIR: optionalString,
    WORKER_CACHED_PERMITS: int(2, 1_000_000).optional(),
    // The embedded server's namespace retention; the server may refuse short ones (1h is the least
    // Temporal Server 1.29 accepts), and start-up then stops saying so.
    PERMIT_RETENTION: durationSchema(1_000, 3_650 * 86_400_000).default(86_400_000),

    DEFAULT_LEASE_MS: int(1_000, 86_400_000).default(30_000),
    MAX_LEASE_MS: int(1_000, 86_400_000).default(3_600_000),
    MAX_HOLD_MS: int(1_000, 30 * 86_400_000).default(86_400_000),
    // More renewals would bring a permit's history near Temporal's limit of 51,200 events per run.
    MAX_RENEWALS: int(0, DEFAULT_MAX_RENEWALS).default(DEFAULT_MAX_RENEWALS),
    EXPIRED_LEASE_GRACE_MS: int(0, 3_600_000).default(5_000),
    MAX_CAPACITY: int(1, 10_000).default(10_000),
    MAX_WAIT_MS: int(0, 3_600_000).default(300_000),
    RESOURCE_CAPACITIES: resourceCapacitiesSchema,
    VISIBILITY_LOOKUP_WAIT_MS: int(0, 60_000).default(2_000),
    MAX_WAITERS_PER_RESOURCE: int(1, 1_000_000).default(1_000),
    WAIT_PROBE_MS: int(50, 60_000).default(1_000),
    MAX_SLOT_WATCHES: int(0, 10_000).default(256),
    CAPACITY_LEASE_MS: int(1_000, 3_600_000).default(300_000),
    EVENTS_REFRESH_MS: int(500, 600_000).default(5_000),
    EVENTS_KEEPALIVE_MS: int(1_000, 300_000).default(15_000),
    SHUTDOWN_TIMEOUT_MS: int(1_000, 600_000).default(15_000),

    API_KEYS_FILE: optionalString,
    ALLOW_UNAUTHENTICATED: booleanFromString.default(false),
    TLS_CERT_FILE: optionalString,
    TLS_KEY_FILE: optionalString,
    BODY_LIMIT_BYTES: int(1_024, 10 * 1_048_576).default(16_384),
    MAX_HEADER_BYTES: int(1_024, 1_048_576).default(16_384),
    MAX_HOLDER_LENGTH: int(1, 4_096).default(256),
    // 0 turns the limit off.
    RATE_LIMIT_PER_SECOND: int(0, 1_000_000).default(1_000),
    MAX_WAITERS_PER_KEY: int(1, 1_000_000).default(100),

    PERMIT_START_DELAY: z.enum(PERMIT_START_DELAYS).default('lease'),
    TEMPORAL_EAGER_START: booleanFromString.default(false),
  })
  .superRefine((env, ctx) => {
    const fail = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
    if (env.MAX_LEASE_MS > env.MAX_HOLD_MS) fail('MAX_LEASE_MS', 'must not exceed MAX_HOLD_MS');
    if (env.DEFAULT_LEASE_MS > env.MAX_LEASE_MS) fail('DEFAULT_LEASE_MS', 'must not exceed MAX_LEASE_MS');
    for (const [name, capacity] of Object.entries(env.RESOURCE_CAPACITIES)) {
      if (capacity < 1 || capacity > env.MAX_CAPACITY) {
        fail('RESOURCE_CAPACITIES', `capacity of "${name}" must be 1..MAX_CAPACITY (${env.MAX_CAPACITY})`);
      }
    }
    if (env.EXPIRED_LEASE_GRACE_MS <= PERMIT_WORKFLOW_TASK_TIMEOUT_MS) {
      fail(
        'EXPIRED_LEASE_GRACE_MS',
        `must be larger than the permit runs' workflow task timeout (${PERMIT_WORKFLOW_TASK_TIMEOUT_MS} ms): ` +
          'a renewal accepted just before the lease end can take that long to commit',
      );
    }
    if (env.SERVICE_ROLE !== 'all' && !env.TEMPORAL_ADDRESS) {
      fail(
        'SERVICE_ROLE',
        `SERVICE_ROLE=${env.SERVICE_ROLE} needs TEMPORAL_ADDRESS: API and worker replicas share one Temporal server; ` +
          'the embedded dev server is for a single SERVICE_ROLE=all process',
      );
    }
    if (env.TEMPORAL_EAGER_START && env.PERMIT_START_DELAY !== 'none') {
      fail(
        'TEMPORAL_EAGER_START',
        'eager start hands the first workflow task to the worker at once, which a start delay holds back: set PERMIT_START_DELAY=none with it',
      );
    }
    if (env.TEMPORAL_EAGER_START && env.SERVICE_ROLE === 'api') {
      fail('TEMPORAL_EAGER_START', 'eager start hands the first workflow task to a worker in the same process; SERVICE_ROLE=api runs none');
    }
    if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
      fail('TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together');
    }
    if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
      fail('TLS_CERT_FILE', 'TLS_CERT_FILE and TLS_KEY_FILE must be set together');
    }
    // Without keys anyone who reaches the service may release anyone's permit: only this machine may, unless asked.
    if (!env.API_KEYS_FILE && !env.ALLOW_UNAUTHENTICATED && !isLoopbackHost(env.HOST)) {
      fail(
        'HOST',
        `HOST=${env.HOST} is reachable from other machines, and without API_KEYS_FILE the service checks no key: ` +
          'set API_KEYS_FILE (see the README, Security), or ALLOW_UNAUTHENTICATED=true to serve without keys anyway',
      );
    }
  });

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  role: ServiceRole;
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
  temporal: {
    /** Undefined means: run the embedded dev server. */
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    tls: boolean;
    tlsCertPath: string | undefined;
    tlsKeyPath: string | undefined;
    tlsCaPath: string | undefined;
    tlsServerName: string | undefined;
    apiKey: string | undefined;
    rpcTimeoutMs: number;
    /** Where the Temporal Web UI is (TEMPORAL_UI_URL); the embedded server's own UI when undefined. */
    uiUrl: string | undefined;
  };
  devServer: {
    cliPath: string | undefined;
    cacheDir: string;
    port: number;
    uiPort: number;
    readyTimeoutMs: number;
    /** How long the embedded server keeps a closed permit's run (PERMIT_RETENTION). */
    retentionMs: number;
  };
  /** Permit runs the worker keeps in memory between tasks; undefined: the SDK's default (from the heap limit). */
  workerCachedPermits: number | undefined;
  /** Where the worker's workflow bundles are cached by content; undefined: beside the code (see workflow-bundle.ts). */
  workflowBundleDir: string | undefined;
  limits: {
    defaultLeaseMs: number;
    maxLeaseMs: number;
    maxHoldMs: number;
    /** Renewals one permit accepts; past them renew answers 409 renewal_limit. */
    maxRenewals: number;
    /** An acquire ends a run still open this long after its lease ended (no worker closed it). */
    expiredLeaseGraceMs: number;
    maxCapacity: number;
    maxWaitMs: number;
    visibilityLookupWaitMs: number;
    /** Longest holder label; longer ones are refused. */
    maxHolderLength: number;
  };
  waiting: {
    /** Waiters one replica queues per resource; more get 503 too_many_waiters. */
    maxWaitersPerResource: number;
    /** Mean interval of the probe pass that finds slots freed where this replica cannot see it. */
    probeMs: number;
    /** Slot watches (parked history long-polls) this replica keeps open at most, over all resources. */
    maxSlotWatches: number;
  };
  auth: {
    /** The JSON file of API keys; undefined: no key is checked (loopback only, unless allowUnauthenticated). */
    keysFile: string | undefined;
    allowUnauthenticated: boolean;
  };
  http: {
    /** Largest request body (413 past it). */
    bodyLimitBytes: number;
    /** Largest request head, request line and headers (431 past it). */
    maxHeaderBytes: number;
    /** Requests one key (or, without keys, one address) may send per second; 0: no limit. */
    rateLimitPerSecond: number;
    /** Waiting acquires one key may have on this replica at once. */
    maxWaitersPerKey: number;
    /** Serve HTTPS with this certificate and key (PEM files). */
    tlsCertPath: string | undefined;
    tlsKeyPath: string | undefined;
  };
  resourceCapacities: Record<string, number>;
  permitStart: {
    /** `lease`: a permit run's first workflow task waits until its lease would end (PERMIT_START_DELAY). */
    delay: PermitStartDelay;
    /** Ask Temporal to hand the first workflow task straight to this process's worker (TEMPORAL_EAGER_START). */
    eager: boolean;
  };
  /** How long a replica may rely on a resource's capacity record after its last lease on it (see capacity-records.ts). */
  capacityLeaseMs: number;
  events: {
    /** How often /events reads visibility while anyone listens, so other replicas' changes show. */
    refreshMs: number;
    /** How often an idle /events stream gets a comment, so proxies do not cut it. */
    keepAliveMs: number;
  };
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {}

/** Reads and validates the whole configuration once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  // A variable set to nothing (PORT= in a compose file) means "not set", never 0 or "".
  const given = Object.fromEntries(
    Object.entries(environment).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const parsed = EnvSchema.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = issue.path.join('.') || 'environment';
      const value = issue.path.length === 1 ? environment[String(issue.path[0])] : undefined;
      // Secrets, and URLs with credentials in them, are never echoed.
      const secret = /KEY|TOKEN|SECRET/.test(variable) || /:\/\/[^/]*@/.test(value ?? '');
      const shown = value === undefined || secret ? '' : ` (got "${value}")`;
      return `${variable}: ${issue.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const env = parsed.data;
  return {
    role: env.SERVICE_ROLE,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    dataDir: path.resolve(env.DATA_DIR),
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      // An API key (Temporal Cloud) or a client certificate implies TLS unless TEMPORAL_TLS=false says otherwise.
      tls: env.TEMPORAL_TLS ?? Boolean(env.TEMPORAL_API_KEY || env.TEMPORAL_TLS_CERT),
      tlsCertPath: env.TEMPORAL_TLS_CERT,
      tlsKeyPath: env.TEMPORAL_TLS_KEY,
      tlsCaPath: env.TEMPORAL_TLS_CA,
      tlsServerName: env.TEMPORAL_TLS_SERVER_NAME,
      apiKey: env.TEMPORAL_API_KEY,
      rpcTimeoutMs: env.TEMPORAL_RPC_TIMEOUT_MS,
      uiUrl: env.TEMPORAL_UI_URL,
    },
    devServer: {
      cliPath: env.TEMPORAL_CLI,
      cacheDir: path.resolve(env.TEMPORAL_CLI_CACHE_DIR),
      port: env.TEMPORAL_DEV_PORT,
      uiPort: env.TEMPORAL_DEV_UI_PORT,
      readyTimeoutMs: env.TEMPORAL_DEV_READY_TIMEOUT_MS,
      retentionMs: env.PERMIT_RETENTION,
    },
    workerCachedPermits: env.WORKER_CACHED_PERMITS,
    workflowBundleDir: env.WORKFLOW_BUNDLE_DIR === undefined ? undefined : path.resolve(env.WORKFLOW_BUNDLE_DIR),
    limits: {
      defaultLeaseMs: env.DEFAULT_LEASE_MS,
      maxLeaseMs: env.MAX_LEASE_MS,
      maxHoldMs: env.MAX_HOLD_MS,
      maxRenewals: env.MAX_RENEWALS,
      expiredLeaseGraceMs: env.EXPIRED_LEASE_GRACE_MS,
      maxCapacity: env.MAX_CAPACITY,
      maxWaitMs: env.MAX_WAIT_MS,
      visibilityLookupWaitMs: env.VISIBILITY_LOOKUP_WAIT_MS,
      maxHolderLength: env.MAX_HOLDER_LENGTH,
    },
    waiting: {
      maxWaitersPerResource: env.MAX_WAITERS_PER_RESOURCE,
      probeMs: env.WAIT_PROBE_MS,
      maxSlotWatches: env.MAX_SLOT_WATCHES,
    },
    auth: { keysFile: env.API_KEYS_FILE, allowUnauthenticated: env.ALLOW_UNAUTHENTICATED },
    http: {
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      maxHeaderBytes: env.MAX_HEADER_BYTES,
      rateLimitPerSecond: env.RATE_LIMIT_PER_SECOND,
      maxWaitersPerKey: env.MAX_WAITERS_PER_KEY,
      tlsCertPath: env.TLS_CERT_FILE,
      tlsKeyPath: env.TLS_KEY_FILE,
    },
    resourceCapacities: env.RESOURCE_CAPACITIES,
    permitStart: { delay: env.PERMIT_START_DELAY, eager: env.TEMPORAL_EAGER_START },
    capacityLeaseMs: env.CAPACITY_LEASE_MS,
    events: { refreshMs: env.EVENTS_REFRESH_MS, keepAliveMs: env.EVENTS_KEEPALIVE_MS },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
  };
}

/** The configuration as it is safe to log: secrets are replaced by whether they are set. */
export function describeConfig(config: Config): Record<string, unknown> {
  return { ...config, temporal: { ...config.temporal, apiKey: config.temporal.apiKey ? '<set>' : undefined } };
}
