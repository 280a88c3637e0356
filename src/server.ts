import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { KeyFileError } from './auth/key-file.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createServices } from './services/create-services.js';
import { DataDirLockedError } from './store/data-dir-lock.js';
import { EmbeddingSpaceMismatchError } from './store/semantics/store-errors.js';

/** Process entry: configuration, logger, services, HTTP server, and a graceful stop on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  let services;
  try {
    services = await createServices(config, logger);
  } catch (error) {
    if (error instanceof EmbeddingSpaceMismatchError || error instanceof DataDirLockedError) {
      logger.fatal(error.message);
      process.exit(1);
    }
    throw error;
  }
  let app;
  try {
    app = await buildApp({ config, services, logger });
  } catch (error) {
    if (error instanceof KeyFileError) {
      logger.fatal(error.message);
      await services.close();
      process.exit(1);
    }
    throw error;
  }
  const ready = services;
  closeWithGrace({ delay: config.http.shutdownTimeoutMs, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'stopping after an uncaught error');
    else logger.info({ signal }, 'stopping: no new requests, finishing those in flight, then flushing the store');
    await app.close();
    await ready.close();
  });
  await app.listen({ host: config.host, port: config.port });
}

await main();
