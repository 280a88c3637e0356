import { benchFlags, print } from '../support.js';
import { measureLatencyAtScale } from './latency.js';

/** The at-scale latency part of bench:retrieval alone: `tsx bench/retrieval/scale-only.ts [--quick]`. */
print(await measureLatencyAtScale(benchFlags().quick ? 10_000 : 100_000));
