import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { type ChildServer, kill, killAll, startServer } from '../support/child-server.js';
import { CONVERSATION_DOCUMENTS, TURNS } from '../support/conversation-corpus.js';
import { imageNodeLane } from '../support/lanes.js';
import { startPgliteServer } from '../support/pglite-server.js';
import { readEvents } from '../support/sse.js';
import { temporaryDir, unusedPort } from '../support/test-app.js';

/**
 * Stored conversations outlive the process that holds them: on the embedded store, across a
 * kill -9 and a restart over the same DATA_DIR; on pgvector, continued by a second replica. The
 * real service processes (offline providers: the local-keywords rewriter), as the image runs them.
 */

async function post(server: ChildServer, path: string, body: object): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

async function turns(server: ChildServer, id: string): Promise<Array<{ question: string; sources: Array<{ id: string }> }>> {
  const response = await fetch(`${server.base}/v1/conversations/${id}`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { turns: Array<{ question: string; sources: Array<{ id: string }> }> }).turns;
}

/** Ingests the corpus, starts a conversation and asks its first question; the conversation's id. */
async function firstTurn(server: ChildServer): Promise<string> {
  assert.equal((await post(server, '/v1/documents', { documents: CONVERSATION_DOCUMENTS })).status, 201);
  const created = await post(server, '/v1/conversations', {});
  assert.equal(created.status, 201);
  const id = created.body.id as string;
  assert.equal((await post(server, '/v1/ask', { question: TURNS[0], conversation_id: id, k: 2 })).status, 200);
  return id;
}

/** The follow-up, streamed through `server`: it must retrieve through the stored first turn. */
async function followUp(server: ChildServer, id: string): Promise<void> {
  const response = await fetch(`${server.base}/v1/ask/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: TURNS[1], conversation_id: id, k: 2 }),
  });
  const events = await readEvents(response);
  const sources = events.find((event) => event.event === 'sources')?.data;
  assert.equal(sources.standalone_query, `${TURNS[1]} italy`);
  assert.equal(sources.sources[0].id, 'italy-weather');
  assert.equal(events.at(-1)?.event, 'done');
  assert.equal(events.at(-1)?.data.timings.rewriter, 'local-keywords');
}

describe('stored conversations across processes', imageNodeLane, () => {
  const dirs: string[] = [];
  after(async () => {
    killAll();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('embedded store: a conversation survives kill -9 and continues after the restart', async () => {
    const dataDir = await temporaryDir('conversation-restart-');
    dirs.push(dataDir);
    const first = await startServer(dataDir, await unusedPort());
    const id = await firstTurn(first);
    await kill(first);
    const second = await startServer(dataDir, await unusedPort());
    await followUp(second, id);
    assert.deepEqual((await turns(second, id)).map((turn) => turn.question), [TURNS[0], TURNS[1]]);
    await kill(second);
  });

  it('pgvector: a conversation started on one replica is continued on another', async () => {
    const databaseDir = await temporaryDir('conversation-replicas-db-');
    dirs.push(databaseDir);
    const database = await startPgliteServer({ dataDir: databaseDir });
    try {
      const env = { VECTOR_STORE: 'pgvector', DATABASE_URL: database.url, DATABASE_POOL_SIZE: '4' };
      const [one, two] = await Promise.all([startServer(undefined, await unusedPort(), env), startServer(undefined, await unusedPort(), env)]);
      const id = await firstTurn(one);
      await followUp(two, id);
      const stored = await turns(one, id);
      assert.deepEqual(stored.map((turn) => turn.question), [TURNS[0], TURNS[1]]);
      assert.equal(stored[1]?.sources[0]?.id, 'italy-weather');
      await Promise.all([kill(one), kill(two)]);
    } finally {
      await database.stop();
    }
  });
});
