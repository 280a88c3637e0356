import type { Writable } from 'node:stream';

/**
 * How long the events of a stream may wait to share one socket write: one frame of a 60 Hz
 * display, so a reader sees no difference, while a model producing a token every few ms costs one
 * write (and one system call) for several tokens instead of one each.
 */
export const WRITE_WINDOW_MS = 16;

/**
 * Passes `messages` through unchanged while the caller writes each to `out`, and holds those
 * writes (cork) so that the ones within WRITE_WINDOW_MS of each other leave in one write. The
 * first message after a quiet window is written at once, so a first token never waits; the last
 * ones are flushed when the stream ends.
 */
export async function* coalescedWrites<T>(out: Writable, messages: AsyncIterable<T>, windowMs = WRITE_WINDOW_MS): AsyncGenerator<T> {
  let timer: NodeJS.Timeout | undefined;
  let heldSinceFlush = 0;
  let corked = false;
  let ended = false;
  const cork = () => {
    if (ended || corked) return;
    out.cork();
    corked = true;
  };
  const uncork = () => {
    if (!corked) return;
    corked = false;
    out.uncork();
  };
  const flush = () => {
    uncork();
    if (heldSinceFlush > 0) {
      heldSinceFlush = 0;
      cork();
      timer = setTimeout(flush, windowMs);
    } else {
      timer = undefined;
    }
  };
  try {
    for await (const message of messages) {
      const windowOpen = timer !== undefined;
      yield message;
      // The caller has written the message by the time it asks for the next one.
      if (windowOpen) {
        heldSinceFlush += 1;
      } else {
        // Node's HTTP response corks its socket for each write and uncorks it on the next tick: a
        // cork now would hold back the write just made as well, so the window's comes after it.
        process.nextTick(cork);
        timer = setTimeout(flush, windowMs);
      }
    }
  } finally {
    ended = true;
    clearTimeout(timer);
    uncork();
  }
}
