import type { NVIDIALogger } from '@nim-rag/langchain-nvidia';

/** A logger that drops everything, for tests that provoke warnings on purpose. */
export const quiet: NVIDIALogger = { warn: () => undefined };
