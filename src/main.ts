import closeWithGrace from 'close-with-grace';
import { ConfigError, describeConfig, loadConfig } from './config.js';
import { startLockService, type LockService } from './lock-service.js';
import { createLogger } from './logger.js';
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
});

try {
  starting = startLockService(config, log, {
    listen: true,
    onFatal: () => process.kill(process.pid, 'SIGTERM'),
  });
  service = await starting;
} catch (error) {
  log.fatal({ err: error }, 'lock service failed to start');
  process.exit(1);
}
