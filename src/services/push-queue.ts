/**
 * How long the items of a stream may wait to be read together: one frame of a 60 Hz display, so
 * a reader sees no difference, while a model producing a token every few ms wakes the reader (and
 * everything it drives, down to the socket write) once for several tokens instead of once each.
 */
export const HOLD_MS = 16;

/**
 * Items pushed by callbacks, read in order as batches by one reader. A waiting reader is woken at
 * once by the first item after a quiet window, so a first token never waits; items pushed within
 * `holdMs` of a wake wait for the window to close and go together. A reader that comes back takes
 * whatever is there. `end` wakes it at once; given an error, the reader gets every item pushed
 * before it, then the error.
 */
export class PushQueue<T> implements AsyncIterable<T[]> {
  private items: T[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private window: NodeJS.Timeout | undefined;

  constructor(private readonly holdMs = HOLD_MS) {}

  push(item: T): void {
    this.items.push(item);
    if (this.window === undefined) this.wakeReader();
  }

  end(error?: unknown): void {
    this.ended = true;
    if (error !== undefined) this.failure = { error };
    clearTimeout(this.window);
    this.window = undefined;
    this.wake?.();
  }

  private wakeReader(): void {
    if (!this.wake) return;
    this.wake();
    if (this.holdMs > 0) this.window = setTimeout(this.windowClosed, this.holdMs);
  }

  private readonly windowClosed = () => {
    this.window = undefined;
    if (this.items.length > 0) this.wakeReader();
  };

  async *[Symbol.asyncIterator](): AsyncGenerator<T[]> {
    try {
      for (;;) {
        if (this.items.length > 0) {
          const batch = this.items;
          this.items = [];
          yield batch;
          continue;
        }
        if (this.failure) throw this.failure.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      clearTimeout(this.window);
      this.window = undefined;
    }
  }
}
