import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { type Principal, SCOPES } from './principal.js';

/** A key as the service holds it: only its SHA-256, and what it may do. */
export interface KeyEntry {
  digest: Buffer;
  principal: Principal;
}

/** Why a keys file cannot be used, naming the file and each problem. */
export class KeyFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`API_KEYS_FILE ${file} cannot be used:\n  - ${problems.join('\n  - ')}`);
    this.name = 'KeyFileError';
  }
}

export const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Letters, digits, `.`, `_` and `-`: a key's name goes into log lines and metric labels as it is. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A collection name (see CollectionName in openapi.yaml), where `*` and `?` may stand for characters. */
const GLOB = /^[A-Za-z0-9_*?-][A-Za-z0-9_*?-]{0,63}$/;

const text = () => z.string({ error: 'must be a string (in quotes, where YAML would read it as something else)' });

const keySchema = z
  .object({
    name: z.string().regex(NAME, 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    key: text().min(16, 'must be at least 16 characters long (generate one with: openssl rand -hex 32)').optional(),
    sha256: text()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be the 64 hex digits of the SHA-256 of the key (printf %s "$KEY" | sha256sum)')
      .optional(),
    scopes: z.array(z.enum(SCOPES, { error: `must be one of ${SCOPES.join(', ')}` })).min(1, 'must name at least one scope'),
    collections: z
      .array(z.string().regex(GLOB, 'must be a collection name, where * and ? may stand for characters'))
      .min(1, 'must name at least one collection or glob ("*" for all)'),
    rate_limit: z
      .object({
        max: z.number().int().min(0).max(1_000_000),
        window_ms: z.number().int().min(1000).max(86_400_000).optional(),
      })
      .strict()
      .optional(),
    max_chunks: z.number().int().min(0).optional(),
  })
  .strict()
  .refine((entry) => (entry.key === undefined) !== (entry.sha256 === undefined), { message: 'give exactly one of key or sha256', path: ['key'] });

const fileSchema = z.object({ keys: z.array(keySchema) }).strict();

/**
 * Reads a keys file (YAML, so JSON too): `keys: [{name, key | sha256, scopes, collections,
 * rate_limit?, max_chunks?}]`. A key given in clear is hashed at once and not kept. Every problem
 * is reported together, each with where it is in the file.
 */
export function parseKeyFile(file: string, text: string, defaultWindowMs: number): KeyEntry[] {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) throw new KeyFileError(file, document.errors.map((error) => (error.message.split('\n')[0] ?? error.message).replace(/:$/, '')));
  const parsed = fileSchema.safeParse(document.toJS());
  if (!parsed.success) {
    throw new KeyFileError(
      file,
      parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'the file'}: ${issue.message}`),
    );
  }
  const problems: string[] = [];
  const names = new Set<string>();
  const digests = new Set<string>();
  const entries = parsed.data.keys.map((entry, index) => {
    const digest = entry.sha256 ? Buffer.from(entry.sha256, 'hex') : sha256(entry.key as string);
    if (names.has(entry.name)) problems.push(`keys.${index}.name: "${entry.name}" is the name of an earlier key; names must be unique`);
    if (digests.has(digest.toString('hex'))) problems.push(`keys.${index} (${entry.name}): the same key as an earlier one`);
    names.add(entry.name);
    digests.add(digest.toString('hex'));
    const principal: Principal = {
      name: entry.name,
      scopes: [...new Set(entry.scopes)],
      collections: entry.collections,
      ...(entry.rate_limit ? { rateLimit: { max: entry.rate_limit.max, windowMs: entry.rate_limit.window_ms ?? defaultWindowMs } } : {}),
      ...(entry.max_chunks === undefined ? {} : { maxChunks: entry.max_chunks }),
    };
    return { digest, principal };
  });
  if (problems.length > 0) throw new KeyFileError(file, problems);
  return entries;
}
