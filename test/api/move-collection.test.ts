import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { machineNodeLane } from '../support/lanes.js';
import { serviceBackends } from '../support/service-backends.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The README's way of moving a collection from one backend to the other (re-ingesting it through
 * the API with curl and jq), run as written against two listening services: the embedded store as
 * the source, Postgres with pgvector as the target.
 */

const run = promisify(execFile);

/** The shell commands under "Moving a collection between backends" in the README. */
function readmeCommands(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('**Moving a collection between backends.**'));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the README shows the commands');
  return block;
}

async function everything(test: TestApp, collection: string): Promise<Array<{ id: string; text: string; metadata: unknown }>> {
  const { documents } = await test.services.documents.list(collection, 1000);
  return Promise.all(
    documents.map(async ({ id }) => {
      const { text, metadata } = await test.services.documents.get(collection, id);
      return { id, text, metadata };
    }),
  );
}

describe('moving a collection between backends, as the README shows', machineNodeLane, () => {
  const [hnsw, pgvector] = serviceBackends() as [ReturnType<typeof serviceBackends>[0], ReturnType<typeof serviceBackends>[0]];
  let source: TestApp;
  let target: TestApp;

  before(async () => {
    source = await startTestApp(await hnsw.prepare());
    target = await startTestApp(await pgvector.prepare());
    await Promise.all([source.app.listen({ port: 0, host: '127.0.0.1' }), target.app.listen({ port: 0, host: '127.0.0.1' })]);
  });
  after(async () => {
    await source.close();
    await target.close();
  });

  it('copies every document, over more than one page, with its text and metadata, and the copy answers searches alike', async () => {
    const documents = [
      ...EXAMPLE_DOCUMENTS.map((text, index) => ({ id: `example ${index}/ü`, text, metadata: { n: index, tags: ['example'] } })),
      ...Array.from({ length: 4 }, (_, index) => ({ id: `note-${index}`, text: `Note ${index} about topic ${index % 3}.`, metadata: { n: index } })),
    ];
    const ingest = await source.app.inject({ method: 'POST', url: '/v1/documents', payload: { collection: 'notes', documents } });
    assert.equal(ingest.statusCode, 201, ingest.body);
    const port = (test: TestApp) => (test.app.server.address() as { port: number }).port;
    const commands = readmeCommands()
      .replace('http://127.0.0.1:8080', `http://127.0.0.1:${port(source)}`)
      .replace('http://127.0.0.1:8081', `http://127.0.0.1:${port(target)}`)
      .replace('collection=default', 'collection=notes')
      // Pages of 3 rather than 100, so that a few documents take several pages.
      .replace('limit=100', 'limit=3');
    await run('bash', ['-euo', 'pipefail', '-c', commands]);

    const sort = (list: Array<{ id: string }>) => [...list].sort((a, b) => a.id.localeCompare(b.id));
    const copied = sort(await everything(target, 'notes'));
    assert.equal(copied.length, documents.length);
    assert.deepEqual(copied, sort(await everything(source, 'notes')));
    for (const query of ['Italy pasta pizza', 'Note 2 about topic 2']) {
      const search = (test: TestApp) => test.app.inject({ method: 'POST', url: '/v1/search', payload: { query, collection: 'notes', k: 3 } });
      const ids = async (test: TestApp) => (await search(test)).json().results.map((hit: { id: string }) => hit.id);
      assert.deepEqual(await ids(target), await ids(source), query);
    }
  });
});
