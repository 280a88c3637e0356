import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EMBED_MODEL, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { startTestApp } from '../support/test-app.js';

describe('model discovery on one address serving several models (a NIM proxy)', () => {
  let shared: NimEmulator;
  before(async () => {
    // The chat model listed first: discovery used to take it for the embeddings too.
    shared = await NimEmulator.start({ models: [LLM_MODEL, EMBED_MODEL] });
  });
  after(() => shared.stop());

  it('picks the embedding model for embeddings and the chat model for answers, and is ready', async () => {
    const test = await startTestApp({ NIM_EMBEDDINGS_URL: shared.url, NIM_LLM_URL: shared.url, NIM_MAX_RETRIES: '0' });
    try {
      const ready = await test.app.inject({ method: 'GET', url: '/v1/health/ready' });
      assert.equal(ready.statusCode, 200, ready.body);
      assert.equal(ready.json().providers.embeddings.model, EMBED_MODEL);
      assert.equal(ready.json().providers.llm.model, LLM_MODEL);
      const ingest = await test.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: [{ text: 'Italy is famous for pasta.' }] } });
      assert.equal(ingest.statusCode, 201, ingest.body);
      assert.equal((await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { question: 'Italy?' } })).json().model, LLM_MODEL);
    } finally {
      await test.close();
    }
  });

  it('is not ready when a configured model cannot do its job, saying why', async () => {
    const test = await startTestApp({ NIM_EMBEDDINGS_URL: shared.url, NIM_LLM_URL: shared.url, NIM_LLM_MODEL: EMBED_MODEL, NIM_MAX_RETRIES: '0' });
    try {
      const ready = await test.app.inject({ method: 'GET', url: '/v1/health/ready' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().providers.llm.ready, false);
      assert.match(ready.json().providers.llm.detail, /is an embedding model; it cannot serve chat completions/);
    } finally {
      await test.close();
    }
  });

  it('refuses to start when the address lists no model of the kind needed, naming what it lists', async () => {
    const chatOnly = await NimEmulator.start({ models: [LLM_MODEL] });
    try {
      await assert.rejects(startTestApp({ NIM_EMBEDDINGS_URL: chatOnly.url, LLM_PROVIDER: 'local' }), /GET \/models lists no embedding model \(it lists mistralai\/mixtral-8x7b-instruct-v0\.1\)/);
    } finally {
      await chatOnly.stop();
    }
  });
});
