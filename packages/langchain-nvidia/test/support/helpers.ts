import { createServer } from 'node:net';
import type { NVIDIALogger } from '@nim-rag/langchain-nvidia';

/** A logger that drops everything, for tests that provoke warnings on purpose. */
export const quiet: NVIDIALogger = { warn: () => undefined };

/** A logger that keeps what it is told, to check what the package reports. */
export function capturingLogger(): { logger: NVIDIALogger; lines: Array<{ level: string; msg: string } & Record<string, unknown>> } {
  const lines: Array<{ level: string; msg: string } & Record<string, unknown>> = [];
  return {
    logger: {
      warn: (details, msg) => lines.push({ ...details, level: 'warn', msg }),
      info: (details, msg) => lines.push({ ...details, level: 'info', msg }),
    },
    lines,
  };
}

/** A loopback port nothing listens on. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
