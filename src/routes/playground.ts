import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OperationRoutes } from '../api/operations.js';
import { notFound } from '../errors.js';

/**
 * Where `npm run build` writes the bundled playground: dist/playground beside the compiled
 * server, which is the same folder whether this module runs from src/ (tsx) or dist/.
 */
export const PLAYGROUND_DIR = fileURLToPath(new URL('../../dist/playground/', import.meta.url));

/**
 * Only this origin's own files, no inline script or style, and no framing. The page's scripts
 * call the API on the same origin; canvas drawing needs nothing more.
 */
export const PLAYGROUND_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const YEAR_SECONDS = 365 * 24 * 3600;

/** The playground page and its content-hashed assets, sent by @fastify/static (ETag, 304s). */
export function playgroundRoutes(enabled: boolean, dir = PLAYGROUND_DIR): Pick<OperationRoutes, 'playground' | 'playgroundAsset'> {
  const unavailable = () => {
    if (!enabled) return notFound('the playground is turned off (PLAYGROUND=false)');
    if (!existsSync(join(dir, 'index.html'))) return notFound('the playground is not built: run npm run build');
    return undefined;
  };
  return {
    playground: async (_request, reply) => {
      const problem = unavailable();
      if (problem) throw problem;
      // The page names the current asset hashes, so it is revalidated on every visit.
      return reply
        .header('content-security-policy', PLAYGROUND_CSP)
        .header('cache-control', 'no-cache')
        .sendFile('index.html', dir, { cacheControl: false });
    },
    playgroundAsset: async (request, reply) => {
      const problem = unavailable();
      if (problem) throw problem;
      const { file } = request.params;
      if (!existsSync(join(dir, file))) throw notFound(`no playground file ${file}`);
      return reply
        .header('content-security-policy', PLAYGROUND_CSP)
        .sendFile(file, dir, { maxAge: YEAR_SECONDS * 1000, immutable: true });
    },
  };
}
