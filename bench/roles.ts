import Fastify from 'fastify';
import { NimEmulator } from '../test/support/nim-emulator.js';
import { announce, answerRequests, benchFlags } from './support.js';

/**
 * Helper processes of the serving benchmarks (bench/serving.ts starts them): `nim`, the NIM
 * emulator configured by BENCH_NIM_OPTIONS (JSON), and `hello`, Fastify answering
 * {"hello":"world"}. Each announces its URL to the parent, answers requests for the CPU time it
 * has used so far (the emulator also for the chat completions it received), and runs until stopped.
 */

const { role } = benchFlags();
let nim: NimEmulator | undefined;
// `chat-calls`: the emulator's chat completions so far, condense prompts and answers apart; anything else: CPU time.
answerRequests((payload) => (payload === 'chat-calls' ? nim?.chatCalls() : process.cpuUsage()));

if (role === 'nim') {
  nim = await NimEmulator.start(JSON.parse(process.env.BENCH_NIM_OPTIONS ?? '{}') as Parameters<typeof NimEmulator.start>[0]);
  announce({ url: nim.url });
} else if (role === 'hello') {
  const app = Fastify();
  app.get('/', async () => ({ hello: 'world' }));
  announce({ url: await app.listen({ host: '127.0.0.1', port: 0 }) });
} else {
  throw new Error(`bench/roles.ts: unknown role ${String(role)}`);
}
