import closeWithGrace from 'close-with-grace';
import { ConfigError, describeConfig, loadConfig } from './config.js';
import { startLockService, type LockService } from './lock-service.js';
import { createLogger } from './logger.js';

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

// Installed before start-up, so a signal during start-up still stops the embedded server.
closeWithGrace({ delay: config.shutdownTimeoutMs + 5_000 }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'shutting down after an unexpected error');
  else log.info({ signal }, 'shutting down');
  const running = service ?? (await starting?.catch(() => undefined));
  await running?.stop();
  log.info('stopped');
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
