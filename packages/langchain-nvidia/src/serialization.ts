import { Serializable, type SerializedConstructor } from '@langchain/core/load/serializable';

/**
 * LangChain serialisation for the model classes whose LangChain base class is not Serializable
 * (Embeddings, BaseDocumentCompressor): they carry the same `lc_*` members as a chat model, and
 * their `toJSON` is Serializable's own, so secrets, aliases and attributes behave identically and
 * `load` from `@langchain/core/load` brings them back.
 */
export interface LangChainSerializable {
  lc_serializable: boolean;
  lc_namespace: string[];
  lc_kwargs: Record<string, unknown>;
  readonly lc_id: string[];
  readonly lc_secrets: Record<string, string>;
  readonly lc_aliases: Record<string, string>;
  readonly lc_attributes: Record<string, unknown>;
}

/** The constructor fields named in `keys`: what `lc_kwargs` keeps (never a client, a logger or a function). */
export function serializableKwargs(fields: object, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([key, value]) => keys.includes(key) && value !== undefined));
}

export function toLangChainJSON(self: LangChainSerializable): SerializedConstructor {
  return Serializable.prototype.toJSON.call(self as unknown as Serializable) as SerializedConstructor;
}
