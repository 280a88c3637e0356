import Fastify from 'fastify';
import { NimEmulator } from '../test/support/nim-emulator.js';
import { announce, answerRequests, benchFlags } from './support.js';

/**
 * Helper processes of the serving benchmarks (bench/serving.ts starts them): `nim`, the NIM
 * emulator configured by BENCH_NIM_OPTIONS (JSON), and `hello`, Fastify answering
 * {"hello":"world"}. Each announces its URL to the parent, answers requests for the CPU time it
 * has used so far, and runs until stopped.
 */

const { role } = benchFlags();
answerRequests(() => process.cpuUsage());

if (role === 'nim') {
  const nim = await NimEmulator.start(JSON.parse(process.env.BENCH_NIM_OPTIONS ?? '{}') as Parameters<typeof NimEmulator.start>[0]);
  announce({ url: nim.url });
} else if (role === 'hello') {
  const app = Fastify();
  app.get('/', async () => ({ hello: 'world' }));
  announce({ url: await app.listen({ host: '127.0.0.1', port: 0 }) });
} else {
  throw new Error(`bench/roles.ts: unknown role ${String(role)}`);
}
