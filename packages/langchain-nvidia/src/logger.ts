/**
 * What the package logs through, when given one: pino, bunyan and console-like loggers whose
 * methods take a details object then a message all fit.
 */
export interface NVIDIALogger {
  warn(details: Record<string, unknown>, message: string): void;
  info?(details: Record<string, unknown>, message: string): void;
}

/** With no logger, warnings become Node process warnings (printed once per message by default) and info is dropped. */
export const processWarnings: NVIDIALogger = {
  warn: (_details, message) => process.emitWarning(message, { code: 'NVIDIA_LANGCHAIN' }),
};
