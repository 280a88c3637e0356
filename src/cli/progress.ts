import type { Schemas } from './client.js';

type Job = Schemas['Job'];

const seconds = (ms: number) => (ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`);

/**
 * Shows a job's progress: on a terminal one line redrawn in place (a bar, files, chunks, rate,
 * ETA); elsewhere a plain line per file finished, so logs stay readable.
 */
export class ProgressView {
  private readonly started = Date.now();
  private readonly reported = new Set<string>();

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly filesOffset: { done: number; total: number },
  ) {}

  update(job: Job): void {
    if (this.out.isTTY) this.redraw(job);
    for (const file of job.files) {
      if ((file.state !== 'done' && file.state !== 'failed') || this.reported.has(file.id)) continue;
      this.reported.add(file.id);
      if (this.out.isTTY) this.out.write('\r\x1b[2K');
      const outcome = file.state === 'done' ? `${file.status ?? 'done'}, ${file.chunks ?? 0} chunks` : `FAILED: ${file.error?.reason ?? 'unknown'}`;
      this.out.write(`${file.name === file.id ? file.id : `${file.id} (${file.name})`}: ${outcome}\n`);
      if (this.out.isTTY) this.redraw(job);
    }
  }

  finish(): void {
    if (this.out.isTTY) this.out.write('\r\x1b[2K');
  }

  private redraw(job: Job): void {
    const { counts } = job;
    const filesDone = this.filesOffset.done + counts.files_done + counts.files_failed;
    const fraction = counts.chunks > 0 ? counts.chunks_done / counts.chunks : 0;
    const width = 24;
    const filled = Math.round(fraction * width);
    const elapsed = Date.now() - this.started;
    const rate = counts.chunks_done / Math.max(elapsed / 1000, 0.001);
    const eta = rate > 0 && counts.chunks > counts.chunks_done ? ` ETA ${seconds(((counts.chunks - counts.chunks_done) / rate) * 1000)}` : '';
    this.out.write(
      `\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] files ${filesDone}/${this.filesOffset.total}` +
        ` chunks ${counts.chunks_done}/${counts.chunks} ${rate.toFixed(1)} chunks/s${eta}`,
    );
  }
}
