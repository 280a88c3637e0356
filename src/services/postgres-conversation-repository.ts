import pg from 'pg';
import type { Logger } from 'pino';
import { migrate } from '../store/pgvector/migrations.js';
import type { ConversationRecord, ConversationRepository, TurnRecord } from './conversation-repository.js';
import { runTransaction } from '../store/pgvector/transaction.js';

export interface PostgresConversationOptions {
  url: string;
  statementTimeoutMs: number;
  logger: Logger;
}

/** Connections of this pool, beside the store's and the jobs': conversations are small and their statements short. */
export const CONVERSATION_POOL_SIZE = 2;

interface ConversationRow {
  id: string;
  collection: string;
  owner: string | null;
  created_at: Date;
  updated_at: Date;
}

interface TurnRow {
  question: string;
  standalone_query: string;
  answer: string;
  sources: TurnRecord['sources'];
  created_at: Date;
}

/**
 * Conversations in Postgres beside the pgvector store (rag_conversations, rag_conversation_turns;
 * migration 4), so that any replica continues a conversation that another started. A turn is
 * appended under a lock of its conversation's row, so concurrent turns get distinct positions.
 */
export class PostgresConversationRepository implements ConversationRepository {
  private readonly pool: pg.Pool;
  private schema: Promise<void> | undefined;

  constructor(private readonly options: PostgresConversationOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: CONVERSATION_POOL_SIZE,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'nim-rag-service conversations',
      ...(options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    // An idle connection the server drops is reported here; without a listener it would end the process.
    this.pool.on('error', (error) => options.logger.warn({ err: error }, 'conversation database connection lost'));
  }

  /** The schema, migrated once (the store migrates too; the same migrations, under the same lock). */
  private ready(): Promise<void> {
    this.schema ??= this.attempt(async (client) => {
      await migrate(client);
    }).catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
    return this.schema;
  }

  /** Every statement here runs in a transaction: PGlite over its socket serves several connections in one session and keeps only a transaction's messages together. */
  private async attempt<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    return runTransaction(this.pool, work, (error) => this.options.logger.warn({ err: error }, 'conversation database connection lost'));
  }

  private async transaction<T>(work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    await this.ready();
    return this.attempt(work);
  }

  async create(record: ConversationRecord): Promise<void> {
    await this.transaction((client) =>
      client.query('INSERT INTO rag_conversations (id, collection, owner, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)', [
        record.id,
        record.collection,
        record.owner,
        record.created_at,
        record.updated_at,
      ]),
    );
  }

  async get(id: string): Promise<ConversationRecord | undefined> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<ConversationRow>('SELECT id, collection, owner, created_at, updated_at FROM rag_conversations WHERE id = $1', [id]);
      const row = rows[0];
      if (!row) return undefined;
      const turns = await client.query<TurnRow>(
        'SELECT question, standalone_query, answer, sources, created_at FROM rag_conversation_turns WHERE conversation_id = $1 ORDER BY position',
        [id],
      );
      return {
        id: row.id,
        collection: row.collection,
        owner: row.owner,
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
        turns: turns.rows.map((turn) => ({ ...turn, created_at: turn.created_at.toISOString() })),
      };
    });
  }

  async append(id: string, turn: TurnRecord): Promise<boolean> {
    return this.transaction(async (client) => {
      const locked = await client.query('SELECT 1 FROM rag_conversations WHERE id = $1 FOR UPDATE', [id]);
      if (locked.rowCount === 0) return false;
      await client.query(
        `INSERT INTO rag_conversation_turns (conversation_id, position, question, standalone_query, answer, sources, created_at)
         SELECT $1, COALESCE(MAX(position) + 1, 0), $2, $3, $4, $5::json, $6 FROM rag_conversation_turns WHERE conversation_id = $1`,
        [id, turn.question, turn.standalone_query, turn.answer, JSON.stringify(turn.sources), turn.created_at],
      );
      await client.query('UPDATE rag_conversations SET updated_at = $2 WHERE id = $1', [id, turn.created_at]);
      return true;
    });
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.transaction((client) => client.query('DELETE FROM rag_conversations WHERE id = $1', [id]));
    return (result.rowCount ?? 0) > 0;
  }

  async purge(before: Date): Promise<number> {
    const result = await this.transaction((client) => client.query('DELETE FROM rag_conversations WHERE updated_at < $1', [before.toISOString()]));
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
