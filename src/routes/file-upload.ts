import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { badRequest, ProblemError } from '../errors.js';
import { FileRejectedError } from '../files/file-problems.js';
import { type StagedFile, stageFile } from '../files/staging.js';
import { MAX_FILE_ID_LENGTH } from '../services/file-service.js';
import type { Metadata } from '../store/metadata-filter.js';

export interface UploadLimits {
  maxFileBytes: number;
  maxFiles: number;
}

/** The files of a multipart request, on disk in `dir` (the caller removes it or hands it on), and its fields. */
export interface Upload {
  dir: string;
  files: StagedFile[];
  metadata: Metadata;
  bytes: number;
}

const FIELDS = ['metadata', 'ids'] as const;

function jsonObjectField(name: string, value: unknown): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch {
    throw badRequest(`field "${name}" is not JSON; send a JSON object`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badRequest(`field "${name}" must be a JSON object`);
  return parsed as Record<string, unknown>;
}

function idFor(name: string, ids: Record<string, unknown>): string {
  const id = ids[name] ?? name;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_FILE_ID_LENGTH) {
    throw new FileRejectedError(name, `its id must be a string of 1 to ${MAX_FILE_ID_LENGTH} characters`, 400);
  }
  return id;
}

const tooLarge = (filename: string, limits: UploadLimits) =>
  new FileRejectedError(filename, `larger than ${limits.maxFileBytes} bytes (UPLOAD_MAX_FILE_BYTES)`, 413);

/** Multipart's own limit errors, said in the service's words. */
function limitProblem(error: unknown, filename: string | undefined, limits: UploadLimits): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE' && filename !== undefined) return tooLarge(filename, limits);
  if (code === 'FST_FILES_LIMIT') {
    return new ProblemError({ status: 413, slug: 'too-many-files', title: 'Too Many Files', detail: `more than ${limits.maxFiles} files in one request (UPLOAD_MAX_FILES); nothing was ingested` });
  }
  return error;
}

/**
 * Reads a multipart upload part by part, streaming each file to disk under `root`: text fields
 * (`metadata`, `ids`) first, then the files. Any problem removes what was written.
 */
export async function receiveUpload(request: FastifyRequest, root: string, limits: UploadLimits): Promise<Upload> {
  if (!request.isMultipart()) throw new ProblemError({ status: 415, slug: 'unsupported-media-type', title: 'Unsupported Media Type', detail: 'send the files as multipart/form-data' });
  const dir = await mkdtemp(join(root, 'upload-'));
  const upload: Upload = { dir, files: [], metadata: {}, bytes: 0 };
  let ids: Record<string, unknown> = {};
  let current: string | undefined;
  try {
    // preservePath: the name as sent, so that a path in it is refused rather than silently cut to its base name.
    const parts = request.parts({ preservePath: true, limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: FIELDS.length, fieldSize: 1024 ** 2 } });
    for await (const part of parts) {
      if (part.type === 'field') {
        if (upload.files.length > 0) throw badRequest(`field "${part.fieldname}" comes after a file; send the fields (${FIELDS.join(', ')}) before the files`);
        if (part.fieldname === 'metadata') upload.metadata = jsonObjectField('metadata', part.value);
        else if (part.fieldname === 'ids') ids = jsonObjectField('ids', part.value);
        else throw badRequest(`unknown field "${part.fieldname}"; the fields are ${FIELDS.join(', ')}, then the files`);
        continue;
      }
      current = part.filename;
      const staged = await stageFile(dir, upload.files.length, part.filename, idFor(part.filename, ids), part.file).then(
        (file) => ({ file }),
        (error: unknown) => ({ error }),
      );
      // Past the size limit the stream just ends, marked truncated; whatever else staging said, that is the problem.
      if (part.file.truncated) throw tooLarge(part.filename, limits);
      if ('error' in staged) throw staged.error;
      upload.files.push(staged.file);
      upload.bytes += staged.file.bytes;
      current = undefined;
    }
    if (upload.files.length === 0) throw badRequest('the request holds no file; send multipart/form-data with one or more file parts');
    return upload;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw limitProblem(error, current, limits);
  }
}
