import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerProcess {
  process: ChildProcess;
  base: string;
  output: string[];
}

/** Every server started, so that a failing test still leaves no process behind (kill them in `after`). */
export const runningServers = new Set<ChildProcess>();

/** The real server (src/server.ts) as a child process on a loopback port, offline providers unless `env` says otherwise; resolves once it is live. */
export async function startServer(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      EMBEDDINGS_PROVIDER: 'local',
      LLM_PROVIDER: 'local',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runningServers.add(child);
  child.once('exit', () => runningServers.delete(child));
  const output: string[] = [];
  child.stdout?.on('data', (data: Buffer) => output.push(data.toString()));
  child.stderr?.on('data', (data: Buffer) => output.push(data.toString()));
  const base = `http://127.0.0.1:${port}`;
  // Generous: on a loaded two-core machine compiling the server through tsx alone can take half a minute.
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
