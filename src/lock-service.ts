import fs from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker, WorkflowBundleOption } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { KeyRing } from './auth/api-keys.js';
import { isLoopbackHost, type Config } from './config.js';
import { buildApp } from './http/app.js';
import { Metrics } from './metrics.js';
import { createCapacityActivities } from './permits/capacity-activities.js';
import { EagerStarter } from './permits/eager-starter.js';
import { PermitService } from './permits/permit-service.js';
import { TemporalRpc } from './permits/temporal-rpc.js';
import { temporalConnectionOptions } from './temporal/connection-options.js';
import { DrainableRetries } from './temporal/drainable-retries.js';
import { startDevServer, type DevServer } from './temporal/dev-server.js';
import { provisionTemporalCli } from './temporal/provision-cli.js';
import { createPermitWorker, installTemporalRuntime } from './temporal/worker.js';
import { defaultBundleCacheDir, loadWorkflowBundle } from './temporal/workflow-bundle.js';

export interface LockServiceOptions {
  /** Listen on config.host:config.port; tests leave it off and use inject(). */
  listen?: boolean;
  /** A bundle made earlier, so a process that starts several services bundles once. */
  workflowBundle?: WorkflowBundleOption;
  /** Also run the example consumer workflow (`npm run demo`); the production worker does not carry it. */
  withExampleWorkflows?: boolean;
  /** Called if the worker dies while the service runs; the caller should shut down. */
  onFatal?: (error: unknown) => void;
}

export interface LockService {
  app: FastifyInstance;
  /** The permits API; undefined in a SERVICE_ROLE=worker process, which serves none. */
  permits: PermitService | undefined;
  client: Client;
  temporalAddress: string;
  /** The base URL when listening. */
  url: string | undefined;
  /**
   * Reads API_KEYS_FILE again; the new keys answer the next request. A file that cannot be used
   * leaves the keys in force and rejects with the reason. Undefined without API_KEYS_FILE.
   */
  reloadKeys: (() => Promise<void>) | undefined;
  /** Stops in phases: HTTP (in-flight requests finish), worker, connections, embedded server. */
  stop(): Promise<void>;
}

async function phase(log: Logger, name: string, timeoutMs: number, work: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([work().then(() => 'done' as const), timedOut]);
    if (outcome === 'timeout') log.warn({ phase: name, timeoutMs }, 'shutdown phase timed out; moving on');
    else log.info({ phase: name }, 'shutdown phase done');
  } catch (error) {
    log.error({ phase: name, err: error }, 'shutdown phase failed');
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects to Temporal (starting the embedded dev server unless TEMPORAL_ADDRESS is set) and, as
 * SERVICE_ROLE says, runs the worker, builds the API, or both; every role serves health, readiness and metrics.
 */
export async function startLockService(config: Config, log: Logger, options: LockServiceOptions = {}): Promise<LockService> {
  // Milliseconds since the process started at each step, logged once listening: what a restart waits on.
  const startup: Record<string, number> = {};
  const mark = (step: string) => {
    startup[step] = Math.round(performance.now());
  };
  mark('modulesLoaded');
  // Settled before any cleanup runs, so a failed start never tears down around a worker still being made.
  let workerReady: Promise<void> = Promise.resolve();
  const cleanups: Array<{ name: string; run: () => Promise<unknown> }> = [];
  const cleanUp = async (timeoutMs: number) => {
    for (const cleanup of cleanups.reverse()) await phase(log, cleanup.name, timeoutMs, cleanup.run);
    cleanups.length = 0;
  };

  try {
    // Read first: a bad key file stops start-up before anything is started.
    let keys = config.auth.keysFile ? await KeyRing.load(config.auth.keysFile) : undefined;
    const announceKeys = (ring: KeyRing) => {
      log.info({ keysFile: config.auth.keysFile, keys: ring.size }, 'API keys in force');
      if (ring.plainKeyNames.length > 0) {
        log.warn(
          { keysFile: config.auth.keysFile, entries: ring.plainKeyNames },
          'API keys given as plain "key" in the key file: fine for local use; elsewhere store their "sha256" instead (npm run keygen)',
        );
      }
    };
    if (keys) announceKeys(keys);
    else if (!isLoopbackHost(config.host) && config.role !== 'worker') {
      log.warn(
        { host: config.host },
        'ALLOW_UNAUTHENTICATED=true: serving without API keys on an address other machines can reach; anyone who reaches it may release any permit',
      );
    }
    const tls = config.http.tlsCertPath && config.http.tlsKeyPath
      ? { cert: await fs.readFile(config.http.tlsCertPath), key: await fs.readFile(config.http.tlsKeyPath) }
      : undefined;

    // Begun now, so a bundle not yet cached is made while the embedded server starts.
    const bundleLoad: Promise<WorkflowBundleOption> | undefined =
      config.role === 'api'
        ? undefined
        : options.workflowBundle
          ? Promise.resolve(options.workflowBundle)
          : loadWorkflowBundle(log, {
              withExamples: options.withExampleWorkflows,
              cacheDir: config.workflowBundleDir ?? defaultBundleCacheDir(),
            }).then((loaded) => loaded.bundle);
    // Awaited below, unless start-up fails first; that failure is the one to report.
    bundleLoad?.catch(() => undefined);

    let address = config.temporal.address;
    let devServer: DevServer | undefined;
    if (!address) {
      const cliPath = await provisionTemporalCli({ ...config.devServer, log });
      devServer = await startDevServer({
        cliPath,
        dataDir: config.dataDir,
        port: config.devServer.port,
        uiPort: config.devServer.uiPort,
        namespace: config.temporal.namespace,
        readyTimeoutMs: config.devServer.readyTimeoutMs,
        retentionMs: config.devServer.retentionMs,
        log,
      });
      address = devServer.address;
      mark('devServerReady');
      cleanups.push({ name: 'stop embedded Temporal dev server', run: devServer.stop });
    }

    const connectionOptions = await temporalConnectionOptions(config.temporal, address);
    log.info({ address, namespace: config.temporal.namespace, tls: config.temporal.tls, role: config.role }, 'connecting to Temporal');
    const retries = new DrainableRetries();
    const connection = await Connection.connect({
      ...connectionOptions,
      connectTimeout: config.temporal.rpcTimeoutMs,
      interceptors: retries.interceptors,
    });
    cleanups.push({
      name: 'close Temporal client connection',
      run: async () => {
        await retries.drain();
        await connection.close();
      },
    });
    const client = new Client({ connection, namespace: config.temporal.namespace });
    mark('temporalConnected');

    const metrics = new Metrics();
    // Waiters park long-polls on slots, and capacity records are followed by long-polls; a connection
    // of their own keeps those off the acquire path. Without the SDK's retry interceptor: a watch that
    // fails must fail now, so its owner reopens it on its own back-off (the SDK would retry it for
    // ~20 s unseen), and the SDK's retry timers ignore an aborted call, so one pending at shutdown
    // would call into the closed connection.
    const watchConnection = await Connection.connect({
      ...connectionOptions,
      connectTimeout: config.temporal.rpcTimeoutMs,
      interceptors: [],
    });
    cleanups.push({ name: 'close slot-watch connection', run: () => watchConnection.close() });
    const watchClient = new Client({ connection: watchConnection, namespace: config.temporal.namespace });
    // A worker replica serves no API, but its worker confirms workflow callers' claims against the
    // capacity records, so every role has the permits layer; only the routes depend on the role.
    const temporalUiUrl = config.temporal.uiUrl ?? devServer?.uiUrl;
    const permitService = PermitService.fromConfig(config, { client, watchClient }, metrics, log, temporalUiUrl);
    const permits = config.role === 'worker' ? undefined : permitService;

    let workerState = () => 'none';
    if (config.role !== 'api') {
      // The SDK's native runtime serves workers only, and shuts down once the last one is gone; an
      // API replica never creates it, which would otherwise outlive stop() and hold the process open.
      installTemporalRuntime(log);
      // Registered now, so they run in their place at shutdown (after HTTP, before the connections)
      // although the worker is created while the HTTP app is built.
      let worker: Worker | undefined;
      let workerConnection: NativeConnection | undefined;
      let workerRun: Promise<void> | undefined;
      cleanups.push({ name: 'close worker connection', run: async () => workerConnection?.close() });
      cleanups.push({
        name: 'shut down Temporal worker',
        run: async () => {
          if (worker?.getState() === 'RUNNING') worker.shutdown();
          await workerRun;
        },
      });
      const startWorker = async () => {
        const workflowBundle = await bundleLoad!;
        mark('workflowBundleReady');
        const created = await createPermitWorker({
          connectionOptions,
          namespace: config.temporal.namespace,
          taskQueue: config.temporal.taskQueue,
          workflowBundle,
          maxCachedWorkflows: config.workerCachedPermits,
          activities: createCapacityActivities(permitService.capacities, permitService.fencingSeqs),
        });
        worker = created.worker;
        workerConnection = created.connection;
        if (config.permitStart.eager) {
          // Eager starts must go through the worker's own connection: the SDK hands the first workflow
          // task in the start's answer to the workers of the connection that sent it.
          permitService.useEagerStarts(new EagerStarter({ connection: created.connection, namespace: config.temporal.namespace }));
        }
        workerRun = created.worker.run().catch((error: unknown) => {
          log.fatal({ err: error }, 'Temporal worker stopped with an error');
          options.onFatal?.(error);
        });
        workerState = () => created.worker.getState();
        metrics.observeWorkerCache(() => created.worker.getStatus().numCachedWorkflows);
        mark('workerRunning');
        // Each cached run costs about 0.3 MB; a run not cached is replayed from its history at its next
        // task (README, Performance), so the bound is logged where an operator can see it.
        log.info({ taskQueue: config.temporal.taskQueue, maxCachedWorkflows: created.worker.options.maxCachedWorkflows }, 'Temporal worker running');
      };
      // The worker loads its bundle into a thread of its own while this thread builds the HTTP app: a
      // start waits on the longer of the two, not on both. The bundle is read first, so the worker's
      // thread is under way before the app's synchronous work holds this thread.
      await bundleLoad;
      workerReady = startWorker();
      // Awaited once the HTTP app is up; until then a failure must not count as unhandled.
      workerReady.catch(() => undefined);
    } else {
      log.info(
        { taskQueue: config.temporal.taskQueue },
        'no Temporal worker in this process (SERVICE_ROLE=api): worker replicas on this task queue run the permit workflows',
      );
    }

    const rpc = new TemporalRpc(client, config.temporal.rpcTimeoutMs);
    let accepting = true;
    const building = buildApp({
      permits,
      metrics,
      limits: config.limits,
      http: config.http,
      keys: () => keys,
      tls,
      events: config.events,
      logger: log,
      readiness: {
        role: config.role,
        accepting: () => accepting,
        temporalReachable: () => rpc.reachable(),
        workerState: () => workerState(),
      },
    }).then((built) => {
      mark('httpAppBuilt');
      return built;
    });
    const app = await building;
    cleanups.push({ name: 'close HTTP server (in-flight requests finish)', run: () => app.close() });
    cleanups.push({ name: 'stop waiting acquires and background calls', run: () => permitService.close() });

    // Listening before the worker runs: a restarted replica takes connections (its readiness says
    // 503 until the worker runs) instead of refusing them. Acquires and releases need no worker here;
    // a renewal waits for one, this one a moment later.
    let url: string | undefined;
    if (options.listen) {
      url = await app.listen({ port: config.port, host: config.host });
      mark('accepting');
      log.info({ url }, 'accepting connections; ready once the worker runs');
    } else {
      await app.ready();
    }
    await workerReady;
    if (options.listen) {
      mark('ready');
      log.info(
        { url, role: config.role, docs: permits ? `${url}/docs` : undefined, temporalUi: devServer?.uiUrl, startupMsSinceProcessStart: startup },
        'lock service listening',
      );
    }

    let stopping: Promise<void> | undefined;
    const stop = () => {
      accepting = false;
      stopping ??= cleanUp(config.shutdownTimeoutMs);
      return stopping;
    };
    const keysFile = config.auth.keysFile;
    const reloadKeys = keysFile
      ? async () => {
          const ring = await KeyRing.load(keysFile);
          keys = ring;
          announceKeys(ring);
        }
      : undefined;
    return { app, permits, client, temporalAddress: address, url, reloadKeys, stop };
  } catch (error) {
    await workerReady.catch(() => undefined);
    await cleanUp(config.shutdownTimeoutMs);
    throw error;
  }
}
