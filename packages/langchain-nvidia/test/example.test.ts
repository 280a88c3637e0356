import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChatNVIDIA, NVIDIAEmbeddings } from '@nim-rag/langchain-nvidia';
import { DOCUMENTS, QUERIES, runExample } from '../examples/nvidia-embeddings-and-chat.js';
import { LLM_MODEL, NimEmulator } from './support/nim-emulator.js';
import { quiet } from './support/helpers.js';

describe('the notebook example, against emulated NIMs', () => {
  let embedNim: NimEmulator;
  let llmNim: NimEmulator;

  before(async () => {
    [embedNim, llmNim] = await Promise.all([NimEmulator.start({ models: ['nvidia/nv-embedqa-e5-v5'] }), NimEmulator.start({ models: [LLM_MODEL] })]);
  });
  after(() => Promise.all([embedNim.stop(), llmNim.stop()]));

  it('prints the cross-similarity matrix and answers from the HNSWLib retriever, without and with a language', async () => {
    const embeddings = new NVIDIAEmbeddings({ baseUrl: embedNim.url, logger: quiet });
    const chat = new ChatNVIDIA({ baseUrl: llmNim.url, logger: quiet });
    const printed: string[] = [];
    const result = await runExample(embeddings, chat, (line) => printed.push(line));

    assert.equal(result.similarity.length, QUERIES.length);
    // Each of the first two queries is closest to its own document, as in the notebook's heat map.
    for (const q of [0, 1]) {
      const row = result.similarity[q] as number[];
      assert.equal(row.indexOf(Math.max(...row)), q, `query ${q + 1}`);
    }
    assert.equal(result.similarity.flat().length, QUERIES.length * DOCUMENTS.length);
    assert.equal(result.answer, 'Emulated answer from: harrison worked at kensho');
    assert.equal(result.answerInLanguage, 'Emulated answer in italian from: harrison worked at kensho');
    const output = printed.join('\n');
    assert.match(output, /query 5(\s+-?\d\.\d{3}){5}/);
    assert.match(output, /█/);
    const inputTypes = embedNim.requestsTo('/v1/embeddings').map((request) => request.body.input_type);
    assert.deepEqual([...new Set(inputTypes)].sort(), ['passage', 'query']);
    await Promise.all([embeddings.close(), chat.close()]);
  });
});
