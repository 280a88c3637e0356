import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OperationRoutes } from '../api/operations.js';
import { loadContract } from '../api/contract.js';
import { docsSecurity } from '../plugins/protection.js';
import type { Services } from '../services/create-services.js';

type DocsAsset = 'swagger-ui.css' | 'swagger-ui-bundle.js' | 'favicon-32x32.png' | 'start.js';

const TYPES: Record<DocsAsset, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'start.js': 'text/javascript; charset=utf-8',
};

// Relative links, so the page works behind a proxy that serves the service under a path prefix.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NIM RAG service API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="api"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/start.js"></script>
</body>
</html>
`;

// A file of its own rather than an inline script, so the page runs under a strict Content-Security-Policy.
const START = `SwaggerUIBundle({ url: 'openapi.yaml', dom_id: '#api', deepLinking: true });\n`;

/** Swagger UI's files (the swagger-ui-dist package), read once when first asked for. */
function docsAssets(): (file: DocsAsset) => Promise<string | Buffer> {
  const folder = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const cache = new Map<DocsAsset, Promise<string | Buffer>>();
  return (file) => {
    let content = cache.get(file);
    if (!content) {
      content = file === 'start.js' ? Promise.resolve(START) : readFile(join(folder, file));
      cache.set(file, content);
    }
    return content;
  };
}

/** Metrics, the contract and its browsable view. */
export function operationsRoutes({ metrics }: Services): Pick<OperationRoutes, 'metrics' | 'contract' | 'docs' | 'docsAsset'> {
  const contract = loadContract().text;
  const asset = docsAssets();
  return {
    metrics: async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    contract: async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(contract),
    docs: { helmet: docsSecurity, handler: async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE) },
    docsAsset: async (request, reply) => {
      const { file } = request.params;
      return reply
        .type(TYPES[file])
        .header('cache-control', 'public, max-age=86400')
        .send(await asset(file));
    },
  };
}
