import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { mayTouch, type Principal } from '../auth/principal.js';
import { ProblemError } from '../errors.js';
import type { HistoryMessage } from '../rag/history.js';
import type { AskResult } from './ask-service.js';
import type { ConversationRecord, ConversationRepository } from './conversation-repository.js';

/** A conversation as the API shows it: everything but its owner. */
export type ConversationView = Omit<ConversationRecord, 'owner'>;

/** How often conversations past their retention are looked for (also at every start). */
const PURGE_EVERY_MS = 10 * 60_000;

const notFound = (id: string) =>
  new ProblemError({ status: 404, slug: 'conversation-not-found', title: 'Not Found', detail: `no conversation ${id}: it was never created, was deleted, or expired (CONVERSATION_RETENTION_HOURS)` });

const collectionMismatch = (id: string, asked: string, stored: string) =>
  new ProblemError({
    status: 400,
    slug: 'conversation-collection-mismatch',
    title: 'Bad Request',
    detail: `conversation ${id} is in collection "${stored}", not "${asked}": send its collection or none`,
    extensions: { collection: asked, conversation_collection: stored },
  });

const view = ({ owner: _owner, ...rest }: ConversationRecord): ConversationView => rest;

/**
 * Stored conversations: created empty for a collection, continued by asking with their id, each
 * completed answer appended as a turn. A conversation is its creator's: asked for with another
 * API key it is not found (404, never 403, so that its existence does not show).
 */
export class ConversationService {
  private purging: NodeJS.Timeout | undefined;
  private firstPurge: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly repository: ConversationRepository,
    private readonly retentionMs: number,
  ) {}

  /**
   * With a retention (0: kept for ever), conversations idle longer are removed from the start on
   * and every few minutes. The first purge runs beside the start, not before it: on disk it reads
   * every conversation, and an expired one is refused by its age (`owned`) until it is gone.
   */
  static async open(repository: ConversationRepository, logger: Logger, retentionMs: number): Promise<ConversationService> {
    const service = new ConversationService(repository, retentionMs);
    if (retentionMs > 0) {
      const purge = () => service.purge().catch((error: unknown) => logger.error({ err: error }, 'purging expired conversations failed'));
      service.firstPurge = purge();
      service.purging = setInterval(() => void purge(), PURGE_EVERY_MS).unref();
    }
    return service;
  }

  async create(collection: string, owner: string | null): Promise<ConversationView> {
    const now = new Date().toISOString();
    const record: ConversationRecord = { id: `conv_${randomBytes(16).toString('hex')}`, collection, owner, created_at: now, updated_at: now, turns: [] };
    await this.repository.create(record);
    return view(record);
  }

  private async owned(id: string, owner: string | null): Promise<ConversationRecord> {
    const record = await this.repository.get(id);
    if (!record || record.owner !== owner || this.expired(record)) throw notFound(id);
    return record;
  }

  async get(id: string, owner: string | null): Promise<ConversationView> {
    return view(await this.owned(id, owner));
  }

  async delete(id: string, owner: string | null): Promise<void> {
    await this.owned(id, owner);
    if (!(await this.repository.delete(id))) throw notFound(id);
  }

  /**
   * The conversation's collection and its turns as the history of the next question. A key that
   * may no longer touch the conversation's collection does not find it either. A question naming
   * another collection is refused: its turn would be stored with sources from outside the conversation.
   */
  async history(id: string, owner: string | null, principal?: Principal, asked?: string): Promise<{ collection: string; history: HistoryMessage[] }> {
    const record = await this.owned(id, owner);
    if (principal && !mayTouch(principal, record.collection)) throw notFound(id);
    if (asked !== undefined && asked !== record.collection) throw collectionMismatch(id, asked, record.collection);
    const history = record.turns.flatMap((turn): HistoryMessage[] => [
      { role: 'user', content: turn.question },
      { role: 'assistant', content: turn.answer },
    ]);
    return { collection: record.collection, history };
  }

  /** Appends a completed answer as the conversation's next turn; a 404 when it was deleted meanwhile. */
  async record(id: string, question: string, result: AskResult): Promise<void> {
    const turn = { question, standalone_query: result.standalone_query, answer: result.answer, sources: result.sources, created_at: new Date().toISOString() };
    if (!(await this.repository.append(id, turn))) throw notFound(id);
  }

  /** Idle longer than the retention: gone for the API even before a purge has removed it. */
  private expired(record: ConversationRecord, now = Date.now()): boolean {
    return this.retentionMs > 0 && Date.parse(record.updated_at) < now - this.retentionMs;
  }

  /** Forgets the conversations idle longer than the retention before `now`; returns how many. */
  async purge(now = Date.now()): Promise<number> {
    if (this.retentionMs <= 0) return 0;
    return this.repository.purge(new Date(now - this.retentionMs));
  }

  async close(): Promise<void> {
    clearInterval(this.purging);
    await this.firstPurge;
    await this.repository.close();
  }
}
