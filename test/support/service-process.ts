import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

/** The real service (src/server.ts) in its own process, reached over loopback. */
export interface ServiceProcess {
  process: ChildProcess;
  base: string;
  output: string[];
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts the service with the offline providers and this environment, and waits until it is live. */
export async function startService(port: number, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
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
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output.join('')}`);
    const live = await fetch(`${base}/v1/health/live`).catch(() => undefined);
    if (live?.ok) return { process: child, base, output };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start: ${output.join('')}`);
}

/** kill -9, and wait for the process to be gone. */
export async function killService(service: ServiceProcess): Promise<void> {
  if (service.process.exitCode !== null || service.process.signalCode !== null) return;
  const exited = once(service.process, 'exit');
  service.process.kill('SIGKILL');
  await exited;
}

/** Kills every service still running (for a failing test's cleanup). */
export function killAllServices(): void {
  for (const child of running) child.kill('SIGKILL');
}
