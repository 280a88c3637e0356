import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { EMBED_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { serviceBackends } from '../support/service-backends.js';
import { startTestApp, storeTotals, type TestApp } from '../support/test-app.js';

const json = (response: LightMyRequestResponse) => response.json();

function assertProblem(response: LightMyRequestResponse, status: number, detail: RegExp): void {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const body = response.json();
  assert.equal(body.status, status);
  assert.equal(typeof body.type, 'string');
  assert.equal(typeof body.title, 'string');
  assert.match(body.detail, detail);
  assert.equal(body.request_id, response.headers['x-request-id']);
  assert.ok(!JSON.stringify(body).includes('    at '), 'no stack trace');
}

for (const backend of serviceBackends()) {
  describe(`documents API (offline providers, ${backend.name} store)`, () => {
    let test: TestApp;
    let env: Record<string, string>;
    const post = (body: unknown, url = '/v1/documents') => test.app.inject({ method: 'POST', url, payload: body as object });

    before(async () => {
      env = await backend.prepare();
      test = await startTestApp(env);
    });
    after(() => test.close());

    it('ingests documents: 201, the ids (given or generated) and chunk counts', async () => {
      const response = await post({
        documents: [
          { id: 'weather', text: "Komchatka's weather is cold, with long, severe winters.", metadata: { topic: 'weather' } },
          { text: 'Italy is famous for pasta, pizza, gelato, and espresso.' },
        ],
      });
      assert.equal(response.statusCode, 201);
      const body = json(response);
      assert.equal(body.collection, 'default');
      assert.equal(body.documents[0].id, 'weather');
      assert.equal(body.documents[0].status, 'created');
      assert.equal(body.documents[0].chunks, 1);
      assert.match(body.documents[1].id, /^[0-9a-f-]{36}$/);
      assert.equal(body.embedded, 2);
    });

    it('answers 200 and embeds nothing when the same document is ingested again', async () => {
      const response = await post({ documents: [{ id: 'weather', text: "Komchatka's weather is cold, with long, severe winters.", metadata: { topic: 'weather' } }] });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(json(response).documents, [{ id: 'weather', status: 'unchanged', chunks: 1 }]);
      assert.equal(json(response).embedded, 0);
    });

    it('replaces a document sent again under its id: new text re-embedded, new metadata alone not, a known chunk reused', async () => {
      const search = async (query: string) =>
        json(await post({ query, k: 10, filter: { kind: 'changing' } }, '/v1/search')).results.map((hit: { id: string; text: string }) => hit.text);
      await post({ documents: [{ id: 'changing', text: 'Glaciers carve valleys slowly.', metadata: { kind: 'changing', v: 1 } }] });
      const newText = json(await post({ documents: [{ id: 'changing', text: 'Rivers carry sediment to the sea.', metadata: { kind: 'changing', v: 1 } }] }));
      assert.deepEqual([newText.documents, newText.embedded], [[{ id: 'changing', status: 'updated', chunks: 1 }], 1]);
      assert.deepEqual(await search('glaciers valleys rivers sediment'), ['Rivers carry sediment to the sea.'], 'the old chunk is gone');
      const newMetadata = json(await post({ documents: [{ id: 'changing', text: 'Rivers carry sediment to the sea.', metadata: { kind: 'changing', v: 2 } }] }));
      assert.deepEqual([newMetadata.documents[0].status, newMetadata.embedded], ['updated', 0]);
      assert.deepEqual(json(await test.app.inject({ method: 'GET', url: '/v1/documents/changing' })).metadata, { kind: 'changing', v: 2 });
      const copy = json(await post({ documents: [{ id: 'changing-copy', text: 'Rivers carry sediment to the sea.', metadata: { kind: 'other' } }] }));
      assert.deepEqual([copy.embedded, copy.reused], [0, 1], 'the same chunk text reuses the stored vector');
      assert.equal((await test.app.inject({ method: 'DELETE', url: '/v1/documents/changing-copy' })).statusCode, 204);
    });

    it('splits a long text into chunks, or keeps it whole with chunking: false', async () => {
      const long = Array.from({ length: 400 }, (_, index) => `Sentence number ${index} talks about subject ${index % 17}.`).join(' ');
      const chunked = json(await post({ documents: [{ id: 'long', text: long }], chunking: { size: 500, overlap: 50 } }));
      assert.ok(chunked.documents[0].chunks > 20, `${chunked.documents[0].chunks} chunks`);
      const whole = json(await post({ documents: [{ id: 'whole', text: long }], chunking: false }));
      assert.equal(whole.documents[0].chunks, 1);
      const view = json(await test.app.inject({ method: 'GET', url: '/v1/documents/long' }));
      assert.equal(view.text, long);
      assert.equal(view.chunks.length, chunked.documents[0].chunks);
      for (const chunk of view.chunks) assert.ok(chunk.end - chunk.start <= 500);
    });

    it('reads a document back with its text and metadata, and 404s a missing one', async () => {
      const response = await test.app.inject({ method: 'GET', url: '/v1/documents/weather' });
      assert.equal(response.statusCode, 200);
      const body = json(response);
      assert.equal(body.text, "Komchatka's weather is cold, with long, severe winters.");
      assert.deepEqual(body.metadata, { topic: 'weather' });
      assert.deepEqual(body.chunks, [{ index: 0, start: 0, end: 55 }]);
      assertProblem(await test.app.inject({ method: 'GET', url: '/v1/documents/nope' }), 404, /document "nope" does not exist in collection "default"/);
    });

    it('lists documents a page at a time', async () => {
      const first = json(await test.app.inject({ method: 'GET', url: '/v1/documents?limit=2' }));
      assert.equal(first.documents.length, 2);
      assert.equal(typeof first.next_cursor, 'string');
      const rest = json(await test.app.inject({ method: 'GET', url: `/v1/documents?limit=100&cursor=${encodeURIComponent(first.next_cursor)}` }));
      const all = [...first.documents, ...rest.documents].map((document: { id: string }) => document.id);
      assert.equal(new Set(all).size, all.length);
      assert.ok(all.includes('weather') && all.includes('long') && all.includes('whole'));
      assert.equal(rest.next_cursor, null);
    });

    it('deletes a document (204, then 404) and by filter', async () => {
      assert.equal((await test.app.inject({ method: 'DELETE', url: '/v1/documents/whole' })).statusCode, 204);
      assertProblem(await test.app.inject({ method: 'DELETE', url: '/v1/documents/whole' }), 404, /does not exist/);
      await post({ documents: [{ id: 'tmp1', text: 'temporary one', metadata: { temp: true } }, { id: 'tmp2', text: 'temporary two', metadata: { temp: true } }] });
      const deleted = json(await post({ filter: { temp: true } }, '/v1/documents/delete'));
      assert.deepEqual(deleted.ids.sort(), ['tmp1', 'tmp2']);
      assert.equal(deleted.deleted, 2);
    });

    describe('bad input gets a clear 4xx problem and nothing is lost', () => {
      let countBefore: number;
      before(async () => {
        countBefore = (await storeTotals(test.services.store)).documents;
      });
      after(async () => {
        assert.equal((await storeTotals(test.services.store)).documents, countBefore, 'no document was added or lost');
      });

      const cases: Array<[string, unknown, number, RegExp]> = [
        ['an empty text', { documents: [{ text: '' }] }, 400, /body\/documents\/0\/text must NOT have fewer than 1 characters/],
        ['a whitespace-only text', { documents: [{ text: '  \n ' }] }, 400, /body\/documents\/0\/text must contain something other than whitespace/],
        ['no documents field', {}, 400, /body must have required property 'documents'/],
        ['an empty documents list', { documents: [] }, 400, /body\/documents must NOT have fewer than 1 items/],
        ['a text of the wrong type', { documents: [{ text: 42 }] }, 400, /body\/documents\/0\/text must be string/],
        ['metadata that is not an object', { documents: [{ text: 'x', metadata: 'tags' }] }, 400, /body\/documents\/0\/metadata must be object/],
        ['an unknown field', { documents: [{ text: 'x', title: 'y' }] }, 400, /body\/documents\/0 has an unknown property "title"/],
        ['a bad collection name', { documents: [{ text: 'x' }], collection: '../etc' }, 400, /body\/collection must match pattern/],
        ['the same id twice', { documents: [{ id: 'dup', text: 'a' }, { id: 'dup', text: 'b' }] }, 400, /documents\[1\]\.id "dup" appears more than once/],
        ['an overlap as large as the chunk', { documents: [{ text: 'x' }], chunking: { size: 100, overlap: 100 } }, 400, /chunking\.overlap \(100\) must be smaller than chunking\.size \(100\)/],
        ['a text with a NUL character', { documents: [{ text: 'nul\u0000here' }] }, 400, /documents\[0\]\.text contains U\+0000 \(NUL\) at character 3/],
        ['an id with a lone surrogate', { documents: [{ id: 'half\ud800', text: 'x' }] }, 400, /documents\[0\]\.id contains a lone surrogate \(\\ud800\) at character 4, which is not Unicode text/],
        ['metadata holding a NUL character', { documents: [{ text: 'x', metadata: { tags: ['ok', 'n\u0000'] } }] }, 400, /documents\[0\]\.metadata\.tags\[1\] contains U\+0000/],
        ['a metadata key with a lone surrogate', { documents: [{ text: 'x', metadata: { ['\udc00key']: 1 } }] }, 400, /a key in documents\[0\]\.metadata contains a lone surrogate/],
        ['more than 1000 documents', { documents: Array.from({ length: 1001 }, () => ({ text: 'x' })) }, 400, /must NOT have more than 1000 items/],
      ];
      for (const [what, body, status, detail] of cases) {
        it(`refuses ${what}`, async () => {
          assertProblem(await post(body), status, detail);
        });
      }

      it('refuses malformed JSON', async () => {
        const response = await test.app.inject({ method: 'POST', url: '/v1/documents', payload: '{"documents": [', headers: { 'content-type': 'application/json' } });
        assertProblem(response, 400, /not valid JSON/);
        assert.equal(response.json().type, '/problems/malformed-json');
      });

      it('refuses a body that is not JSON', async () => {
        const response = await test.app.inject({ method: 'POST', url: '/v1/documents', payload: 'text=hello', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        assertProblem(response, 415, /the body must be sent as application\/json, not application\/x-www-form-urlencoded/);
      });

      it('refuses an empty delete filter (deleting everything is dropping the collection)', async () => {
        assertProblem(await post({ filter: {} }, '/v1/documents/delete'), 400, /body\/filter must NOT have fewer than 1 properties/);
      });

      it('refuses a malformed delete filter naming the operator', async () => {
        assertProblem(await post({ filter: { year: { $around: 3 } } }, '/v1/documents/delete'), 400, /invalid filter at filter\.year\.\$around: unknown operator/);
      });

      it('refuses a filter or a cursor holding what no store keeps, and finds no document by such an id', async () => {
        assertProblem(await post({ filter: { tag: { $in: ['ok', 'n\u0000'] } } }, '/v1/documents/delete'), 400, /invalid filter at filter\.tag\.\$in\[1\]: contains U\+0000/);
        assertProblem(await test.app.inject({ method: 'GET', url: '/v1/documents?cursor=a%00' }), 400, /cursor contains U\+0000 \(NUL\) at character 1/);
        assertProblem(await test.app.inject({ method: 'GET', url: '/v1/documents/a%00b' }), 404, /document "a.b" does not exist/);
        assertProblem(await test.app.inject({ method: 'DELETE', url: '/v1/documents/a%00b' }), 404, /document "a.b" does not exist/);
      });

      it('404s reads from a collection that does not exist', async () => {
        assertProblem(await test.app.inject({ method: 'GET', url: '/v1/documents?collection=ghost' }), 404, /collection "ghost" does not exist/);
        assertProblem(await test.app.inject({ method: 'GET', url: '/v1/documents?limit=0' }), 400, /querystring\/limit must be >= 1/);
      });

      it('404s an unknown route as a problem too', async () => {
        assertProblem(await test.app.inject({ method: 'GET', url: '/v2/anything' }), 404, /no route GET \/v2\/anything/);
      });
    });

    it('keeps everything across a restart', async () => {
      const before = await storeTotals(test.services.store);
      await test.stop();
      test = await startTestApp(env, test.dataDir);
      assert.deepEqual(await storeTotals(test.services.store), before);
      const body = json(await test.app.inject({ method: 'GET', url: '/v1/documents/weather' }));
      assert.equal(body.text, "Komchatka's weather is cold, with long, severe winters.");
    });

    it('refuses to start with another embedding model or size than the store was built with, saying which', async () => {
      await test.stop();
      const nim = await NimEmulator.start({ models: [EMBED_MODEL] });
      try {
        await assert.rejects(
          startTestApp({ ...env, NIM_EMBEDDINGS_URL: nim.url, LLM_PROVIDER: 'local' }, test.dataDir),
          new RegExp(`holds vectors from embedding model "local-lexical-v1" \\(1024 dimensions\\), but the service is configured for "${EMBED_MODEL}"`),
        );
      } finally {
        await nim.stop();
      }
      await assert.rejects(startTestApp({ ...env, LOCAL_EMBEDDINGS_DIMENSIONS: '256' }, test.dataDir), /holds 1024-dimensional vectors from "local-lexical-v1", but 256 dimensions are configured/);
      test = await startTestApp(env, test.dataDir);
      assert.equal(json(await test.app.inject({ method: 'GET', url: '/v1/documents/weather' })).metadata.topic, 'weather', 'the refused starts changed nothing');
    });
  });

  describe(`a collection dropped while an ingest into it waits for its embeddings (${backend.name} store)`, () => {
    it('answers the ingest 409, writes nothing, and takes the same request again', async () => {
      const slowNim = await NimEmulator.start({ models: [EMBED_MODEL], embedLatencyMs: 300 });
      const test = await startTestApp({ ...(await backend.prepare()), NIM_EMBEDDINGS_URL: slowNim.url, LLM_PROVIDER: 'local' });
      try {
        const ingest = { collection: 'doomed', documents: [{ id: 'a', text: 'Written while the collection was dropped.' }] };
        const ingesting = test.app.inject({ method: 'POST', url: '/v1/documents', payload: ingest });
        while (slowNim.requestsTo('/v1/embeddings').length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        const dropped = await test.app.inject({ method: 'DELETE', url: '/v1/collections/doomed' });
        assert.equal(dropped.statusCode, 204);
        const refused = await ingesting;
        assert.equal(refused.statusCode, 409);
        assert.equal(refused.json().type, '/problems/collection-dropped');
        assert.match(refused.json().detail, /collection "doomed" was dropped while this request was writing to it; nothing was written/);
        const collections = (await test.app.inject({ method: 'GET', url: '/v1/collections' })).json();
        assert.ok(!collections.collections.some((collection: { name: string }) => collection.name === 'doomed'));
        const again = await test.app.inject({ method: 'POST', url: '/v1/documents', payload: ingest });
        assert.equal(again.statusCode, 201);
        assert.equal((await test.app.inject({ method: 'GET', url: '/v1/documents/a?collection=doomed' })).statusCode, 200);
      } finally {
        await test.close();
        await slowNim.stop();
      }
    });
  });
}
