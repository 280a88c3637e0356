import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ChatNVIDIA } from '@nim-rag/langchain-nvidia';
import { buildAskChain, llmAnswerer, NO_CONTEXT_ANSWER } from '../../src/rag/ask-chain.js';
import { GenerationRecorder } from '../../src/rag/generation-recorder.js';
import { chunkSpans } from '../../src/rag/chunking.js';
import { defaultReply, LLM_MODEL, NimEmulator } from '../support/nim-emulator.js';
import { silentLogger } from '../support/test-app.js';

const SOURCES = [{ text: 'Italy is famous for pasta, pizza, gelato, and espresso.' }, { text: 'Komchatka is cold.' }];

describe('the ask chain (retriever → prompt → ChatNVIDIA → string parser)', () => {
  let emulator: NimEmulator;
  let llm: ChatNVIDIA;

  before(async () => {
    // Tokens a few ms apart, as a NIM sends them: ones that arrive together become one chunk.
    emulator = await NimEmulator.start({ tokenIntervalMs: 5 });
  });
  after(() => emulator.stop());
  beforeEach(() => {
    emulator.reset();
    llm = new ChatNVIDIA({ baseUrl: emulator.url, model: LLM_MODEL, timeout: 2000, maxRetries: 0, maxConcurrency: 4, logger: silentLogger });
  });

  const chain = () => buildAskChain(async () => SOURCES, llmAnswerer(llm));
  const sentMessages = () => emulator.requestsTo('/v1/chat/completions')[0]?.body.messages;

  it('sends the example system prompt with the joined context and no language line when none is given', async () => {
    const result = await chain().invoke({ question: 'What is Italy known for?' });
    assert.deepEqual(sentMessages(), [
      {
        role: 'system',
        content:
          'Answer using information solely based on the following context:\n<Documents>\n' +
          'Italy is famous for pasta, pizza, gelato, and espresso.\n\nKomchatka is cold.\n</Documents>',
      },
      { role: 'user', content: 'What is Italy known for?' },
    ]);
    assert.equal(result.answer, defaultReply(sentMessages()), 'the answer is exactly what the model produced');
    assert.deepEqual(result.sources, SOURCES);
  });

  it('adds "Speak only in the following language" when a language is given', async () => {
    const result = await chain().invoke({ question: 'What is Italy known for?', language: 'Chinese' });
    assert.equal(
      sentMessages()[0].content,
      'Answer using information solely based on the following context:\n<Documents>\n' +
        'Italy is famous for pasta, pizza, gelato, and espresso.\n\nKomchatka is cold.\n</Documents>\n' +
        'Speak only in the following language: Chinese',
    );
    assert.match(result.answer, /^Emulated answer in Chinese from: Italy is famous/);
  });

  it('keeps braces in questions and context as plain text', async () => {
    const braces = buildAskChain(async () => [{ text: 'Use {context} literally.' }], llmAnswerer(llm));
    await braces.invoke({ question: 'What is {question}?' });
    assert.match(sentMessages()[0].content, /Use \{context\} literally\./);
    assert.equal(sentMessages()[1].content, 'What is {question}?');
  });

  it('streams the sources once, then the answer in pieces', async () => {
    const chunks: Array<Record<string, unknown>> = [];
    for await (const chunk of await chain().stream({ question: 'What is Italy known for?' })) chunks.push(chunk);
    const sourceChunks = chunks.filter((chunk) => 'sources' in chunk);
    const answerPieces = chunks.filter((chunk) => 'answer' in chunk).map((chunk) => chunk.answer as string);
    assert.equal(sourceChunks.length, 1);
    assert.deepEqual(sourceChunks[0]?.sources, SOURCES);
    assert.ok(answerPieces.length > 1, `answer came in ${answerPieces.length} pieces`);
    assert.ok(chunks.indexOf(sourceChunks[0]) < chunks.findIndex((chunk) => 'answer' in chunk));
    assert.equal(answerPieces.join(''), defaultReply(sentMessages()));
  });

  it('answers without calling the model when nothing was retrieved', async () => {
    const empty = buildAskChain(async () => [], llmAnswerer(llm));
    const result = await empty.invoke({ question: 'What is Italy known for?' });
    assert.equal(result.answer, NO_CONTEXT_ANSWER);
    assert.equal(emulator.requestsTo('/v1/chat/completions').length, 0);
    const streamed: Array<Record<string, unknown>> = [];
    for await (const chunk of await empty.stream({ question: 'What is Italy known for?' })) streamed.push(chunk);
    assert.equal(streamed.filter((chunk) => 'answer' in chunk).map((chunk) => chunk.answer).join(''), NO_CONTEXT_ANSWER);
    assert.equal(emulator.requestsTo('/v1/chat/completions').length, 0);
  });

  it('records the token usage and finish reason the NIM reports, streamed (stream_options.include_usage) and not', async () => {
    const plain = new GenerationRecorder();
    await chain().invoke({ question: 'What is Italy known for?' }, { callbacks: [plain] });
    const reported = emulator.requestsTo('/v1/chat/completions')[0]?.body;
    assert.equal(reported.stream, false);
    assert.ok(plain.usage && plain.usage.input_tokens > 10 && plain.usage.output_tokens > 3, JSON.stringify(plain.usage));
    assert.equal(plain.usage.total_tokens, plain.usage.input_tokens + plain.usage.output_tokens);
    assert.equal(plain.finishReason, 'stop');

    emulator.reset();
    const streamed = new GenerationRecorder();
    for await (const _ of await chain().stream({ question: 'What is Italy known for?' }, { callbacks: [streamed] })) void _;
    const request = emulator.requestsTo('/v1/chat/completions')[0]?.body;
    assert.equal(request.stream, true);
    assert.deepEqual(request.stream_options, { include_usage: true });
    const counts = (usage: GenerationRecorder['usage']) => [usage?.input_tokens, usage?.output_tokens, usage?.total_tokens];
    assert.deepEqual(counts(streamed.usage), counts(plain.usage), 'the same counts whether streamed or not');
    assert.equal(streamed.finishReason, 'stop');
  });
});

describe('chunking', () => {
  it('keeps a short text whole and returns spans of the original text', async () => {
    assert.deepEqual(await chunkSpans('short text', { size: 100, overlap: 10 }), [[0, 10]]);
    assert.deepEqual(await chunkSpans('x'.repeat(5000), false), [[0, 5000]]);
  });

  it('cuts a long text into overlapping chunks no longer than the size, each a real span', async () => {
    const paragraphs = Array.from({ length: 30 }, (_, index) => `Paragraph ${index} says something about topic ${index} in a few words.`);
    const text = paragraphs.join('\n\n');
    const spans = await chunkSpans(text, { size: 200, overlap: 40 });
    assert.ok(spans.length >= 9, `${spans.length} chunks`);
    for (const [start, end] of spans) {
      assert.ok(end - start <= 200);
      assert.equal(text.slice(start, end).trim(), text.slice(start, end));
    }
    assert.equal(spans[0]?.[0], 0);
    assert.equal(spans.at(-1)?.[1], text.length);
    for (let i = 1; i < spans.length; i++) assert.ok((spans[i]?.[0] ?? 0) > (spans[i - 1]?.[0] ?? 0), 'spans move forward');
  });

  it('overlaps neighbouring chunks of one long paragraph', async () => {
    const text = Array.from({ length: 200 }, (_, index) => `word${index}`).join(' ');
    const spans = await chunkSpans(text, { size: 100, overlap: 30 });
    assert.ok(spans.length > 10);
    for (let i = 1; i < spans.length; i++) {
      const overlap = (spans[i - 1]?.[1] ?? 0) - (spans[i]?.[0] ?? 0);
      assert.ok(overlap > 0 && overlap <= 30, `chunks ${i - 1} and ${i} overlap by ${overlap}`);
    }
  });
});

describe('GenerationRecorder', () => {
  it('skips the undefined generation of a stream that produced nothing, instead of throwing (LangChain would print that)', () => {
    const recorder = new GenerationRecorder();
    assert.doesNotThrow(() => recorder.handleLLMEnd({ generations: [[undefined as never]] }));
    assert.equal(recorder.finishReason, undefined);
    assert.equal(recorder.usage, undefined);
  });
});
