// The extraction worker when the service runs from its TypeScript sources (tsx: the tests, npm run
// dev, the benchmarks). Node 20 does not hand tsx's loader on to worker threads, so the worker
// registers it itself before loading extract-worker.ts; the built service loads extract-worker.js.
const { register } = await import('tsx/esm/api');
register();
export default (await import('./extract-worker.ts')).default;
