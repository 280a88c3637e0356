import { rm } from 'node:fs/promises';
import type { OperationRoutes } from '../api/operations.js';
import type { Config } from '../config.js';
import type { Services } from '../services/create-services.js';
import { DEFAULT_COLLECTION } from '../store/store-contract.js';
import { receiveUpload } from './file-upload.js';

export function fileRoutes({ files, jobs }: Services, limits: Config['files']): Pick<OperationRoutes, 'uploadFiles'> {
  return {
    uploadFiles: async (request, reply) => {
      const { collection = DEFAULT_COLLECTION, async: inBackground = false } = request.query;
      const upload = await receiveUpload(request, jobs.uploadsDir, limits);
      const options = { collection, metadata: upload.metadata };
      if (inBackground || upload.bytes > limits.asyncThresholdBytes) {
        const job = await jobs.submitFiles(upload.dir, upload.files, options, request.principal);
        return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(job);
      }
      // The staged files are gone before the answer leaves, so a caller never sees them linger.
      const result = await files.ingest(upload.dir, upload.files, options, request.deadline).finally(() => rm(upload.dir, { recursive: true, force: true }));
      return reply.code(result.files.some((file) => file.status === 'created') ? 201 : 200).send(result);
    },
  };
}
