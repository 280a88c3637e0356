import type { CallOutcome, NVIDIAError } from '@nim-rag/langchain-nvidia';

/** How long a model stays "not answering" for readiness after its last timeout or unreachable failure, with no success since. */
const UNRESPONSIVE_FOR_MS = 60_000;

/**
 * What the calls to one NIM say about its models, for readiness without probing on every check:
 * fed by the package client's `onCallEnd` hook. A success clears what a failure left.
 */
export class ModelHealth {
  /** The last failure that said a model itself is unusable (bad key, not entitled, retired, degraded), per model. */
  private readonly failures = new Map<string, NVIDIAError>();
  /** The last call that got no answer at all (timed out, could not connect), per model, and when. */
  private readonly silences = new Map<string, { failure: NVIDIAError; at: number }>();

  /** The client hook: give it as `hooks.onCallEnd`. */
  readonly record = (outcome: CallOutcome): void => {
    const { model, error } = outcome;
    if (!error) {
      this.failures.delete(model);
      this.silences.delete(model);
      return;
    }
    if (error.concernsModel) this.failures.set(model, error);
    if ((error.kind === 'timeout' || error.kind === 'unreachable') && error.upstreamStatus === undefined) {
      this.silences.set(model, { failure: error, at: Date.now() });
    }
  };

  /** The last failure that said this model is unusable, until a call to it succeeds. */
  modelFailure(model: string): NVIDIAError | undefined {
    return this.failures.get(model);
  }

  /**
   * The failure that says the NIM has stopped answering for a model (its last call timed out or
   * could not connect, recently, and none succeeded since).
   */
  silence(model: string, now = Date.now()): NVIDIAError | undefined {
    const silence = this.silences.get(model);
    return silence && now - silence.at < UNRESPONSIVE_FOR_MS ? silence.failure : undefined;
  }
}
