/*
 * Against NVIDIA's hosted API catalog, with the key in NVIDIA_API_KEY: skipped without one (as
 * LangChain's *.int.test.ts are run only where a key is). `npm run test:integration` in this folder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Document } from '@langchain/core/documents';
import type { AIMessageChunk } from '@langchain/core/messages';
import { ChatNVIDIA, NVIDIAEmbeddings, NVIDIARerank } from '@nim-rag/langchain-nvidia';

const key = process.env.NVIDIA_API_KEY;
const hosted = { skip: key ? false : 'set NVIDIA_API_KEY to run against the hosted API catalog', timeout: 120_000 } as const;
const TOOL_MODEL = 'meta/llama-3.1-70b-instruct';

describe('the hosted NVIDIA API catalog', hosted, () => {
  it('embeds queries and passages with the default model, 1024 dimensions, a query closest to its passage', async () => {
    const embeddings = new NVIDIAEmbeddings();
    try {
      const query = await embeddings.embedQuery('What kinds of food is Italy known for?');
      const passages = await embeddings.embedDocuments(["Komchatka's weather is cold.", 'Italy is famous for pasta, pizza, gelato, and espresso.']);
      assert.equal(query.length, 1024);
      const dot = (a: number[], b: number[]) => a.reduce((sum, value, index) => sum + value * (b[index] as number), 0);
      assert.ok(dot(query, passages[1] as number[]) > dot(query, passages[0] as number[]));
    } finally {
      await embeddings.close();
    }
  });

  it('chats with the default model, with usage, and streams', async () => {
    const chat = new ChatNVIDIA({ maxTokens: 64, temperature: 0 });
    try {
      const answer = await chat.invoke('Answer in one word: what is the capital of Italy?');
      assert.match(answer.text, /rome|roma/i);
      assert.ok((answer.usage_metadata?.total_tokens ?? 0) > 0);
      let streamed: AIMessageChunk | undefined;
      let chunks = 0;
      for await (const chunk of await chat.stream('Count from one to five in words.')) {
        chunks += 1;
        streamed = streamed ? streamed.concat(chunk) : chunk;
      }
      assert.ok(chunks > 1);
      assert.match(streamed?.text ?? '', /five/i);
      assert.ok((streamed?.usage_metadata?.output_tokens ?? 0) > 0);
    } finally {
      await chat.close();
    }
  });

  it('calls a tool and gives structured output on a tool-calling model, and guided JSON on Mixtral', async () => {
    const llm = new ChatNVIDIA({ model: TOOL_MODEL, temperature: 0, maxTokens: 256 });
    const mixtral = new ChatNVIDIA({ temperature: 0, maxTokens: 256 });
    const weather = { type: 'function' as const, function: { name: 'weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
    const city = { title: 'city', type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
    try {
      const call = await llm.bindTools([weather], { tool_choice: 'any' }).invoke('What is the weather in Rome?');
      assert.equal(call.tool_calls?.[0]?.name, 'weather');
      assert.match(String(call.tool_calls?.[0]?.args.city), /rome/i);
      const structured = await llm.withStructuredOutput<{ name: string }>(city).invoke('Name the capital of Italy.');
      assert.match(structured.name, /rome|roma/i);
      const guided = await mixtral.withStructuredOutput<{ name: string }>(city, { method: 'guidedJson' }).invoke('Name the capital of Italy as JSON.');
      assert.equal(typeof guided.name, 'string');
    } finally {
      await Promise.all([llm.close(), mixtral.close()]);
    }
  });

  it('reranks with the default reranking model', async () => {
    const reranker = new NVIDIARerank({ topN: 1 });
    try {
      const [best] = await reranker.compressDocuments(
        [new Document({ pageContent: "Komchatka's weather is cold." }), new Document({ pageContent: 'Italy is famous for pasta and pizza.' })],
        'What kinds of food is Italy known for?',
      );
      assert.equal(best?.pageContent, 'Italy is famous for pasta and pizza.');
    } finally {
      await reranker.close();
    }
  });

  it('follows a request the catalog queues (HTTP 202, NVCF-REQID) to its result', async (t) => {
    const statuses: string[] = [];
    // NVCF-POLL-SECONDS: 1 asks NVCF to answer 202 for anything still running after a second.
    const chat = new ChatNVIDIA({ maxTokens: 1024, headers: { 'NVCF-POLL-SECONDS': '1' }, hooks: { onAttempt: ({ status }) => void statuses.push(status) } });
    try {
      const answer = await chat.invoke('Write a 600-word story about a lighthouse keeper.');
      assert.ok(answer.text.length > 200);
      if (statuses.includes('202')) assert.equal(statuses.at(-1), '200', 'polled until the result');
      else t.diagnostic(`the catalog answered without queueing (statuses ${statuses.join(', ')}); the emulator tests cover the 202 path`);
    } finally {
      await chat.close();
    }
  });
});
