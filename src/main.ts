import fs from 'node:fs';
import closeWithGrace from 'close-with-grace';
import { ApiKeysFileError } from './auth/api-keys.js';
import { ConfigError, describeConfig, loadConfig } from './config.js';
import { startLockService, type LockService } from './lock-service.js';
import { createLogger } from './logger.js';
import { RetentionRefusedError } from './temporal/namespace-retention.js';
import { onStopSignals, SIGNAL_COPY_WINDOW_MS, STOP_SIGNALS, type StopSignal } from './stop-signals.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}

const log = createLogger(config.logLevel);
log.info({ config: describeConfig(config) }, 'starting lock service');

let service: LockService | undefined;
let starting: Promise<LockService> | undefined;
let shuttingDown = false;
let stopSignal: StopSignal | undefined;

// Installed before start-up, so a signal during start-up still stops the embedded server.
// close-with-grace handles errors and the overall deadline; the stop signals are left to
// onStopSignals, because close-with-grace takes any second signal, even a copy of the first
// relayed by npm or tsx a few milliseconds later, as "exit now".
const shutdown = closeWithGrace(
  {
    delay: config.shutdownTimeoutMs + 5_000,
    skip: [...STOP_SIGNALS],
    logger: { error: (message: unknown) => log.error(message instanceof Error ? { err: message } : { detail: message }, 'shutdown') },
  },
  async ({ signal, err }) => {
    shuttingDown = true;
    if (err) log.error({ err }, 'shutting down after an unexpected error');
    else log.info({ signal: signal ?? stopSignal, copiesWithinMs: SIGNAL_COPY_WINDOW_MS }, 'shutting down');
    const running = service ?? (await starting?.catch(() => undefined));
    await running?.stop();
    log.info('stopped');
  },
);

// With a key file, SIGHUP reloads the keys (as daemons reload their configuration) instead of stopping.
const keysFile = config.auth.keysFile;
const stopSignals = keysFile ? STOP_SIGNALS.filter((signal) => signal !== 'SIGHUP') : STOP_SIGNALS;
const reloadKeys = (why: string) => {
  const reload = service?.reloadKeys;
  if (!reload || shuttingDown) return;
  reload().then(
    () => log.info({ keysFile, why }, 'API keys reloaded'),
    (error: unknown) => log.error({ keysFile, why, problem: (error as Error).message }, 'API keys not reloaded; the previous keys stay in force'),
  );
};
if (keysFile) {
  process.on('SIGHUP', () => reloadKeys('SIGHUP'));
  // A changed file is also picked up without a signal; polling the file's times is cheap and works on every filesystem.
  fs.watchFile(keysFile, { interval: 2_000 }, (now, before) => {
    if (now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) reloadKeys('the file changed');
  }).unref();
}

onStopSignals({
  onStop: (signal) => {
    if (shuttingDown) return log.info({ signal }, 'already shutting down');
    stopSignal = signal;
    shutdown.close();
  },
  onCopy: (signal) => log.info({ signal }, 'ignoring a copy of the stop signal'),
  onAgain: (signal) => {
    // The embedded dev server's supervisor sees this process end and stops the server itself.
    log.warn({ signal }, 'stop signal again: exiting without finishing shutdown');
    process.exit(1);
  },
}, undefined, stopSignals);

try {
  starting = startLockService(config, log, {
    listen: true,
    onFatal: () => process.kill(process.pid, 'SIGTERM'),
  });
  service = await starting;
} catch (error) {
  if (error instanceof RetentionRefusedError) {
    log.fatal({ problem: error.message }, 'lock service failed to start: the embedded Temporal server refused PERMIT_RETENTION');
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof ApiKeysFileError) {
    // The message names the entry and the field, never a key.
    log.fatal({ problem: error.message }, 'lock service failed to start: the API key file cannot be used');
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  log.fatal({ err: error }, 'lock service failed to start');
  process.exit(1);
}
