import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ProblemError } from '../../src/errors.js';
import type { ConversationRecord, ConversationRepository } from '../../src/services/conversation-repository.js';
import { ConversationService } from '../../src/services/conversation-service.js';
import { silentLogger } from '../support/test-app.js';

const HOUR = 3_600_000;

it('a conversation idle past its retention is not found even before a purge has removed it', async () => {
  const idle = (hours: number): ConversationRecord => {
    const at = new Date(Date.now() - hours * HOUR).toISOString();
    return { id: `conv_${String(hours).padStart(32, '0')}`, collection: 'default', owner: null, created_at: at, updated_at: at, turns: [] };
  };
  const records = new Map([idle(2), idle(30)].map((record) => [record.id, record]));
  // A purge that has not reached them yet: the start-up one runs beside the start.
  const notYetPurged: ConversationRepository = {
    create: async () => undefined,
    get: async (id) => records.get(id),
    append: async () => true,
    delete: async (id) => records.delete(id),
    purge: async () => 0,
    close: async () => undefined,
  };
  const service = await ConversationService.open(notYetPurged, silentLogger, 24 * HOUR);
  try {
    assert.equal((await service.get(idle(2).id, null)).id, idle(2).id);
    await assert.rejects(service.get(idle(30).id, null), (error: unknown) => error instanceof ProblemError && error.status === 404);
    await assert.rejects(service.history(idle(30).id, null), (error: unknown) => error instanceof ProblemError && error.status === 404);
  } finally {
    await service.close();
  }
});
