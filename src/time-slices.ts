/**
 * Long CPU-bound work (embedding thousands of chunks offline, adding them to the exact tier,
 * moving them into the HNSW graph) runs in slices: at most SLICE_MS of it per turn of the event
 * loop, for all such work together, then the loop goes on to timers and I/O. Each piece of work
 * slicing itself is not enough: four ingests each taking 8 ms in the same turn hold requests
 * back for 32 ms.
 *
 * The budget, from bench:load: 8 ms slices doubled search latency while the graph caught up
 * (p50 25 -> 49 ms); 4 ms brought it to 37 ms at the same catch-up time; 2 ms gained little
 * more, and one graph insertion at 100,000 vectors takes 2 to 4 ms.
 */
const SLICE_MS = 4;

/** A job gets the time left in the turn; it returns true while it has more to do. */
type Job = (budgetMs: number) => boolean;

const queue: Array<{ job: Job; resolve: () => void; reject: (error: unknown) => void }> = [];
let scheduled = false;

function schedule(): void {
  if (scheduled || queue.length === 0) return;
  scheduled = true;
  setImmediate(runTurn);
}

function runTurn(): void {
  scheduled = false;
  const started = performance.now();
  for (let left = SLICE_MS; queue.length > 0 && left > 0; left = SLICE_MS - (performance.now() - started)) {
    const entry = queue.shift() as (typeof queue)[number];
    try {
      if (entry.job(left)) queue.push(entry);
      else entry.resolve();
    } catch (error) {
      entry.reject(error);
    }
  }
  schedule();
}

function enqueue(job: Job): Promise<void> {
  return new Promise((resolve, reject) => {
    queue.push({ job, resolve, reject });
    schedule();
  });
}

/** Runs `step` on each item, in slices shared with all other sliced work. */
export function forEachInSlices<T>(items: readonly T[], step: (item: T, index: number) => void): Promise<void> {
  let index = 0;
  return enqueue((budgetMs) => {
    const until = performance.now() + budgetMs;
    while (index < items.length) {
      step(items[index] as T, index);
      index += 1;
      if (performance.now() >= until) break;
    }
    return index < items.length;
  });
}

/** forEachInSlices, collecting what `map` returns. */
export async function mapInSlices<T, R>(items: readonly T[], map: (item: T) => R): Promise<R[]> {
  const results: R[] = [];
  await forEachInSlices(items, (item) => results.push(map(item)));
  return results;
}

/** Runs `work` once, in a slice: it is given the milliseconds it may use and should stop when they are spent. */
export async function inSlice<T>(work: (budgetMs: number) => T): Promise<T> {
  let result: T | undefined;
  await enqueue((budgetMs) => {
    result = work(budgetMs);
    return false;
  });
  return result as T;
}
