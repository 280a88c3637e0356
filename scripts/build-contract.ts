// Part of `npm run build`: openapi.yaml, parsed and validated once here, as JSON beside the build
// (dist/openapi.json): the document and fastify's route table for it (src/api/contract-routes.ts).
// Parsing the YAML and validating the document took a sizeable part of every start of the service;
// the digest lets the service fall back to the YAML itself when the file was edited after the build.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { parseRouteTable } from '../src/api/contract-routes.js';

const text = await readFile(new URL('../openapi.yaml', import.meta.url), 'utf8');
const sha256 = createHash('sha256').update(text).digest('hex');
const document = parse(text) as Record<string, unknown>;
const routeTable = await parseRouteTable(document);
await mkdir(new URL('../dist/', import.meta.url), { recursive: true });
await writeFile(new URL('../dist/openapi.json', import.meta.url), JSON.stringify({ sha256, document, routeTable }));
