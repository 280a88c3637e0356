import closeWithGrace from 'close-with-grace';
import { KeyFileError } from './auth/key-file.js';
import { ConfigError, loadConfig } from './config.js';
import { startTracing } from './telemetry/tracing.js';

/** The service's modules, loaded once tracing (when on) has started, so that what it instruments is loaded after it. */
const loadService = () =>
  Promise.all([
    import('./app.js'),
    import('./logger.js'),
    import('./services/create-services.js'),
    import('./store/data-dir-lock.js'),
    import('./store/semantics/store-errors.js'),
  ]);

/** Process entry: configuration, tracing, logger, services, HTTP server, and a graceful stop on SIGTERM/SIGINT. */
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
  const tracing = config.tracing ? await startTracing() : undefined;
  const [{ buildApp }, { createLogger }, { createServices }, { DataDirLockedError }, { EmbeddingSpaceMismatchError }] = await loadService();
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
    // Last, so that the spans of the final requests are exported; a collector that is down costs them, not the stop.
    await tracing?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'the last spans could not be exported'));
  });
  await app.listen({ host: config.host, port: config.port });
}

await main();
