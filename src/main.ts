// Process entry: parse config, start the gateway, and drain gracefully on SIGTERM/SIGINT
// (readiness false at once, queued requests finish, exit 0 within the drain timeout).
import { loadConfig } from './config.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  const gateway = await startGateway(config, { logger });
  gateway.loaded.catch(() => process.exit(1));

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down');
    gateway.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // SIGHUP reloads the model repository (new versions load beside old ones; nothing is dropped).
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading model repository');
    gateway.repository.reload().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'reload failed'));
  });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
