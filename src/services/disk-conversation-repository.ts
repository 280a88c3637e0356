import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { fsyncDirectory, writeFileAtomic } from '../store/durable-fs.js';
import type { ConversationRecord, ConversationRepository, TurnRecord } from './conversation-repository.js';

const ID = /^conv_[0-9a-f]{32}$/;

/**
 * Conversations on disk beside the embedded store, for the one process that holds DATA_DIR: one
 * JSON file each under DATA_DIR/conversations, replaced atomically at every change (temporary
 * file, fsync, rename, fsync of the directory), as the store's snapshots are, so a crash leaves
 * the conversation as it was before the turn or with it, never half-written.
 */
export class DiskConversationRepository implements ConversationRepository {
  /** One change at a time: two turns of a conversation must not both read it and write over each other (they share a temporary file too). */
  private readonly writes = pLimit(1);

  private constructor(private readonly dir: string) {}

  static async open(dataDir: string): Promise<DiskConversationRepository> {
    const dir = join(dataDir, 'conversations');
    await mkdir(dir, { recursive: true });
    // A temporary file left by a crash was never renamed into place: the change it held was never acknowledged.
    for (const name of await readdir(dir)) if (name.includes('.tmp-')) await rm(join(dir, name), { force: true });
    return new DiskConversationRepository(dir);
  }

  private path(id: string): string {
    if (!ID.test(id)) throw new Error(`not a conversation id: ${id}`);
    return join(this.dir, `${id}.json`);
  }

  create(record: ConversationRecord): Promise<void> {
    return this.writes(() => writeFileAtomic(this.path(record.id), JSON.stringify(record)));
  }

  async get(id: string): Promise<ConversationRecord | undefined> {
    const text = await readFile(this.path(id), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    return text === undefined ? undefined : (JSON.parse(text) as ConversationRecord);
  }

  append(id: string, turn: TurnRecord): Promise<boolean> {
    return this.writes(async () => {
      const record = await this.get(id);
      if (!record) return false;
      record.turns.push(turn);
      record.updated_at = turn.created_at;
      await writeFileAtomic(this.path(id), JSON.stringify(record));
      return true;
    });
  }

  delete(id: string): Promise<boolean> {
    return this.writes(async () => {
      const removed = await rm(this.path(id)).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return false;
          throw error;
        },
      );
      if (removed) await fsyncDirectory(this.dir);
      return removed;
    });
  }

  async purge(before: Date): Promise<number> {
    let purged = 0;
    for (const name of await readdir(this.dir)) {
      const id = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
      if (!ID.test(id)) continue;
      const old = await this.writes(async () => {
        const record = await this.get(id).catch(() => undefined);
        if (!record || Date.parse(record.updated_at) >= before.getTime()) return false;
        await rm(this.path(id), { force: true });
        return true;
      });
      if (old) purged += 1;
    }
    if (purged > 0) await fsyncDirectory(this.dir);
    return purged;
  }

  async close(): Promise<void> {
    await this.writes(async () => undefined);
  }
}
