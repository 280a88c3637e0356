import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { chunkSpans } from '../../src/rag/chunking.js';
import { kill, killAll, startServer as startChild } from '../support/child-server.js';
import { temporaryDir, unusedPort } from '../support/test-app.js';
import { imageNodeLane } from '../support/lanes.js';

const startServer = (dataDir: string, port: number) => startChild(dataDir, port, { SNAPSHOT_EVERY_CHUNKS: '40' });

/**
 * The durability promise, tested the hard way: the real server runs as a child process, writers
 * ingest and delete in a loop, and the process is killed with SIGKILL at a random moment, again
 * and again. After each restart every acknowledged document must be there, whole and searchable,
 * every acknowledged delete must have stuck, and nothing that was never sent may appear. A write
 * in flight at the kill may land or not, but never by halves.
 */

const ROUNDS = 12;
const WRITERS = 3;
const CHUNKING = { size: 60, overlap: 0 };

let counter = 0;
const randomWord = () => Array.from({ length: 10 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

/** A document of three or four paragraphs, one chunk each, each carrying a word found nowhere else. */
function newDocument(): { id: string; text: string; token: string } {
  counter += 1;
  const token = randomWord();
  const paragraphs = Array.from({ length: 3 + (counter % 2) }, (_, index) => `Paragraph ${index} of document ${counter}: ${index === 0 ? token : randomWord()}.`);
  return { id: `doc-${counter}`, text: paragraphs.join('\n\n'), token };
}

describe('crash safety: kill -9 while writing', imageNodeLane, () => {
  const dirs: string[] = [];
  after(async () => {
    killAll();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it(`loses no acknowledged write and half-applies none, over ${ROUNDS} kills`, { timeout: 240_000 }, async () => {
    const dataDir = await temporaryDir('crash-test-');
    dirs.push(dataDir);
    const acknowledged = new Map<string, { text: string; token: string }>();
    const inFlight = new Map<string, { text: string; token: string }>();
    const deleted = new Set<string>();
    const deletedTokens = new Map<string, string>();
    const deletesInFlight = new Map<string, { text: string; token: string }>();
    let acknowledgedThisRun = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const server = await startServer(dataDir, await unusedPort());
      await verify(server.base, round);
      let stop = false;
      const writer = async () => {
        while (!stop) {
          const known = [...acknowledged.keys()];
          if (known.length > 5 && Math.random() < 0.2) {
            const id = known[Math.floor(Math.random() * known.length)] as string;
            deletesInFlight.set(id, acknowledged.get(id) as { text: string; token: string });
            acknowledged.delete(id);
            const response = await fetch(`${server.base}/v1/documents/${id}`, { method: 'DELETE' }).catch(() => undefined);
            if (!response) return;
            assert.equal(response.status, 204);
            deletedTokens.set(id, (deletesInFlight.get(id) as { token: string }).token);
            deletesInFlight.delete(id);
            deleted.add(id);
            continue;
          }
          const documents = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, newDocument);
          for (const document of documents) inFlight.set(document.id, document);
          const response = await fetch(`${server.base}/v1/documents`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ documents: documents.map(({ id, text }) => ({ id, text })), chunking: CHUNKING }),
          }).catch(() => undefined);
          if (!response) return;
          assert.equal(response.status, 201, await response.text());
          for (const document of documents) {
            inFlight.delete(document.id);
            acknowledged.set(document.id, document);
            acknowledgedThisRun += 1;
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, writer);
      await sleep(150 + Math.random() * 600);
      await kill(server);
      stop = true;
      await Promise.all(writers);
    }

    const last = await startServer(dataDir, await unusedPort());
    await verify(last.base, ROUNDS);
    assert.ok(acknowledgedThisRun > ROUNDS * 5, `only ${acknowledgedThisRun} documents were acknowledged; the test wrote too little`);
    const stopped = once(last.process, 'exit');
    last.process.kill('SIGTERM');
    const [code] = (await stopped) as [number | null];
    assert.equal(code, 0, 'a graceful stop exits 0');
    const clean = await startServer(dataDir, await unusedPort());
    await verify(clean.base, ROUNDS + 1);
    await kill(clean);

    /** Everything acknowledged is there, whole and findable; nothing else is, except whole in-flight writes. */
    async function verify(base: string, round: number): Promise<void> {
      const present = new Map<string, { text: string; chunks: number }>();
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
        const page = (await (await fetch(`${base}/v1/documents?limit=1000${query}`)).json()) as {
          documents: Array<{ id: string; chunks: number }>;
          next_cursor: string | null;
        };
        for (const document of page.documents) present.set(document.id, { text: '', chunks: document.chunks });
        cursor = page.next_cursor;
      } while (cursor);

      for (const id of deleted) assert.ok(!present.has(id), `round ${round}: acknowledged delete of ${id} was undone`);
      for (const [id, document] of acknowledged) {
        assert.ok(present.has(id), `round ${round}: acknowledged document ${id} is missing`);
        const view = (await (await fetch(`${base}/v1/documents/${id}`)).json()) as { text: string; chunks: unknown[] };
        assert.equal(view.text, document.text, `round ${round}: ${id} came back different`);
        assert.equal(view.chunks.length, (await chunkSpans(document.text, CHUNKING)).length, `round ${round}: ${id} is missing chunks`);
      }
      for (const [id, { chunks }] of present) {
        const sent = acknowledged.get(id) ?? inFlight.get(id) ?? deletesInFlight.get(id);
        assert.ok(sent, `round ${round}: ${id} appeared without ever being sent`);
        assert.equal(chunks, (await chunkSpans(sent.text, CHUNKING)).length, `round ${round}: ${id} is half-written`);
      }
      const search = async (query: string, mode: string) => {
        const response = await fetch(`${base}/v1/search`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, k: 1, retrieval: { mode } }),
        });
        return ((await response.json()) as { results: Array<{ id: string }> }).results;
      };
      const sample = [...acknowledged.entries()].slice(-25);
      for (const [id, { token }] of sample) {
        assert.equal((await search(token, 'vector'))[0]?.id, id, `round ${round}: ${id} is not found by its own word`);
        // The keyword index is rebuilt from what came back: a word of one document is a keyword hit of that document alone.
        assert.deepEqual((await search(token, 'keyword')).map((hit) => hit.id), [id], `round ${round}: the keyword index lost ${id}`);
      }
      for (const [id, token] of [...deletedTokens].slice(-10)) {
        assert.deepEqual(await search(token, 'keyword'), [], `round ${round}: the keyword index still has deleted ${id}`);
      }

      for (const [id, document] of [...inFlight, ...deletesInFlight]) {
        if (present.has(id)) acknowledged.set(id, document);
        else if (deletesInFlight.has(id)) deleted.add(id);
      }
      inFlight.clear();
      deletesInFlight.clear();
    }
  });
});
