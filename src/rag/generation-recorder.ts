import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import { isAIMessage, type UsageMetadata } from '@langchain/core/messages';
import type { ChatGeneration, LLMResult } from '@langchain/core/outputs';

/**
 * Keeps what a chat model reports at the end of its run besides the text: token usage and why it
 * stopped (`stop`, or `length` when max_tokens cut the answer). The chain's string parser drops
 * both, so they are taken from the model's end-of-run callback, which is awaited (not run in the
 * background) so it is recorded before the chain returns.
 */
export class GenerationRecorder extends BaseCallbackHandler {
  readonly name = 'generation_recorder';
  override awaitHandlers = true;
  usage: UsageMetadata | undefined;
  finishReason: string | undefined;

  /** With `onToken`, the answer is streamed: the model streams inside its run and each piece it reports goes there. */
  constructor(private readonly onToken?: (text: string) => void) {
    super();
  }

  get streaming(): boolean {
    return this.onToken !== undefined;
  }

  override handleLLMNewToken(token: string): void {
    if (token) this.onToken?.(token);
  }

  /**
   * A stream that produced no chunk ends with an undefined generation: skipped, since a handler that
   * throws makes LangChain write a raw line to the console, outside the JSON log.
   */
  override handleLLMEnd(output: LLMResult): void {
    for (const generation of output.generations.flat() as Array<ChatGeneration | undefined>) {
      if (!generation) continue;
      const message = generation.message;
      if (message && isAIMessage(message) && message.usage_metadata) this.usage = message.usage_metadata;
      const reason: unknown = generation.generationInfo?.finish_reason;
      if (typeof reason === 'string') this.finishReason = reason;
    }
  }
}
