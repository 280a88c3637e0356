import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { builtEntry } from './built.js';

export interface ChildServer {
  process: ChildProcess;
  base: string;
  output: string[];
}

/** Every server started, so that a failing test still leaves no process behind (see killAll). */
const running = new Set<ChildProcess>();

/**
 * The real server, as the image runs it (node dist/server.js, see built.ts), as a child process on a loopback port, over `dataDir` when one is
 * given, offline providers unless `env` says otherwise; resolves once it is live.
 */
export async function startServer(dataDir: string | undefined, port: number, env: Record<string, string> = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--enable-source-maps', await builtEntry('server.js')], {
    env: {
      ...process.env,
      ...(dataDir === undefined ? {} : { DATA_DIR: dataDir }),
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      EMBEDDINGS_PROVIDER: 'local',
      LLM_PROVIDER: 'local',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const output: string[] = [];
  child.stdout?.on('data', (data: Buffer) => output.push(data.toString()));
  child.stderr?.on('data', (data: Buffer) => output.push(data.toString()));
  const base = `http://127.0.0.1:${port}`;
  // Generous: a loaded two-core machine can take many seconds to start it.
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output.join('')}`);
    const live = await fetch(`${base}/v1/health/live`).catch(() => undefined);
    if (live?.ok) return { process: child, base, output };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start: ${output.join('')}`);
}

/** kill -9, and wait until the process is gone. */
export async function kill(server: ChildServer): Promise<void> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return;
  const exited = once(server.process, 'exit');
  server.process.kill('SIGKILL');
  await exited;
}

export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}
