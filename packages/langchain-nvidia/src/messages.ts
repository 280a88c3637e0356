import { AIMessage, type BaseMessage, ChatMessage, ToolMessage } from '@langchain/core/messages';

/** A content part as the OpenAI-compatible API takes it. */
type WirePart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: string } } | Record<string, unknown>;

/** Parts that describe what an earlier answer did (already carried by `tool_calls`) or thought: never input. */
const OUTPUT_ONLY = new Set(['tool_use', 'tool_call', 'tool_call_chunk', 'reasoning', 'reasoning_content', 'thinking']);
/** LangChain's standard multimodal blocks this API has no input part for. */
const UNSENDABLE = new Set(['audio', 'file', 'video', 'text-plain']);

const roleOf = (message: BaseMessage): string => {
  const type = message.getType();
  if (type === 'human') return 'user';
  if (type === 'ai') return 'assistant';
  if (type === 'system' || type === 'tool') return type;
  if (ChatMessage.isInstance(message)) return message.role === 'human' ? 'user' : message.role === 'ai' ? 'assistant' : message.role;
  throw new TypeError(`ChatNVIDIA cannot send a ${type} message`);
};

/** An image block in any of LangChain's shapes (v1 `url` / `data`, v0 `source_type`) as the `image_url` part NIM VLMs take. */
function imagePart(block: Record<string, unknown>): WirePart {
  const detail = (block.metadata as { detail?: unknown } | undefined)?.detail;
  const withDetail = (url: string): WirePart => ({ type: 'image_url', image_url: { url, ...(typeof detail === 'string' ? { detail } : {}) } });
  if (typeof block.url === 'string') return withDetail(block.url);
  if (typeof block.data === 'string') {
    const mimeType = (block.mimeType ?? block.mime_type ?? 'image/png') as string;
    return withDetail(`data:${mimeType};base64,${block.data}`);
  }
  throw new TypeError(
    `ChatNVIDIA sends images as URLs or base64 data; an image ${block.source_type === 'id' || block.fileId ? 'given by a file id' : 'with neither url nor data'} cannot be sent`,
  );
}

/** The parts of a user message on the wire: text and images converted, output-only parts dropped, provider-native parts kept. */
function userParts(content: Array<Record<string, unknown>>): WirePart[] {
  const parts: WirePart[] = [];
  for (const part of content) {
    const type = String(part.type);
    if (OUTPUT_ONLY.has(type)) continue;
    if (type === 'text') parts.push({ type: 'text', text: typeof part.text === 'string' ? part.text : '' });
    else if (type === 'image_url') {
      const image = part.image_url;
      parts.push({ type: 'image_url', image_url: typeof image === 'string' ? { url: image } : (image) });
    } else if (type === 'image') parts.push(imagePart(part));
    else if (UNSENDABLE.has(type)) {
      throw new TypeError(`ChatNVIDIA sends text and image parts; a ${type} part cannot be sent (a provider-native part such as { type: 'video_url' } is passed through as given)`);
    } else parts.push(part);
  }
  return parts;
}

/**
 * One LangChain message as the OpenAI-compatible chat API takes it. A user message keeps its image
 * parts (NVIDIA's vision-language models read them) and goes out as a plain string when it is only
 * text, which every NIM chat template accepts; the other roles send their text. `name` is kept.
 */
export function wireMessage(message: BaseMessage): Record<string, unknown> {
  const role = roleOf(message);
  const wire: Record<string, unknown> = { role, content: message.text };
  if (role === 'user' && Array.isArray(message.content)) {
    const parts = userParts(message.content);
    if (parts.some((part) => part.type !== 'text')) wire.content = parts;
  }
  if (message.name !== undefined && message.name !== null) wire.name = message.name;
  if (ToolMessage.isInstance(message)) wire.tool_call_id = message.tool_call_id;
  if (AIMessage.isInstance(message) || message.getType() === 'ai') {
    const toolCalls = (message as AIMessage).tool_calls ?? [];
    if (toolCalls.length > 0) {
      wire.tool_calls = toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.args) } }));
    } else if (Array.isArray(message.additional_kwargs.tool_calls) && message.additional_kwargs.tool_calls.length > 0) {
      wire.tool_calls = message.additional_kwargs.tool_calls;
    }
  }
  return wire;
}
