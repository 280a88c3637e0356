import { ProblemError } from '../errors.js';

export type FileRejectionStatus = 400 | 413 | 415 | 422;

/** Why one uploaded file was refused: the problem names the file, and says why in `reason`. */
export class FileRejectedError extends ProblemError {
  declare readonly status: FileRejectionStatus;

  constructor(
    readonly filename: string,
    readonly reason: string,
    status: FileRejectionStatus,
  ) {
    super({
      status,
      slug: status === 415 ? 'unsupported-file-type' : status === 413 ? 'file-too-large' : 'bad-file',
      title: status === 415 ? 'Unsupported File Type' : status === 413 ? 'File Too Large' : 'Bad File',
      detail: `file "${filename}": ${reason}; nothing was ingested`,
      extensions: { file: filename, reason },
    });
    this.name = 'FileRejectedError';
  }
}
