import type { Source } from './retrieval-service.js';

/** One question and its completed answer, with the sources the answer was given. */
export interface TurnRecord {
  question: string;
  standalone_query: string;
  answer: string;
  sources: Source[];
  created_at: string;
}

export interface ConversationRecord {
  id: string;
  collection: string;
  /** The name of the API key that created it (the request's principal), or null with authentication off. */
  owner: string | null;
  created_at: string;
  updated_at: string;
  turns: TurnRecord[];
}

/** Where stored conversations live: on DATA_DIR beside the embedded store, or in Postgres beside pgvector. */
export interface ConversationRepository {
  create(record: ConversationRecord): Promise<void>;
  get(id: string): Promise<ConversationRecord | undefined>;
  /** Appends a turn and sets `updated_at` to its time; false when the conversation is gone. */
  append(id: string, turn: TurnRecord): Promise<boolean>;
  /** False when there was none. */
  delete(id: string): Promise<boolean>;
  /** Removes the conversations whose last change is before `before`; returns how many. */
  purge(before: Date): Promise<number>;
  close(): Promise<void>;
}
