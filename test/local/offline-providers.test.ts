import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { extractiveAnswer, languageNote, NO_SENTENCE_ANSWER } from '../../src/local/extractive-answerer.js';
import { LexicalEmbeddings } from '../../src/local/lexical-embeddings.js';
import { EXAMPLE_DOCUMENTS, startTestApp, type TestApp } from '../support/test-app.js';

const embedder = new LexicalEmbeddings(1024);
const cosine = (a: number[], b: number[]) => a.reduce((sum, value, index) => sum + value * (b[index] as number), 0);

function ranking(question: string, documents: string[]): number[] {
  const query = embedder.embed(question);
  return documents
    .map((document, index) => ({ index, score: cosine(query, embedder.embed(document)) }))
    .sort((a, b) => b.score - a.score)
    .map((entry) => entry.index);
}

describe('offline lexical embedder', () => {
  it('is deterministic, L2-normalised and of the configured size', () => {
    const first = embedder.embed('Komchatka weather');
    assert.deepEqual(first, embedder.embed('Komchatka weather'));
    assert.equal(first.length, 1024);
    assert.ok(Math.abs(Math.hypot(...first) - 1) < 1e-9);
    assert.equal(new LexicalEmbeddings(256).embed('x').length, 256);
  });

  it('ranks the English text sharing the question\'s words first', () => {
    assert.equal(ranking("What's the weather like in Komchatka?", EXAMPLE_DOCUMENTS)[0], 0);
    assert.equal(ranking('What kinds of food is Italy known for?', EXAMPLE_DOCUMENTS)[0], 1);
    assert.equal(ranking('Which moments of life should I enjoy?', EXAMPLE_DOCUMENTS)[0], 4);
  });

  it('ranks the Chinese text sharing the question\'s words first, without spaces between words', () => {
    const documents = ['北京是中国的首都，有很多名胜古迹。', '上海是中国最大的经济中心城市。', '熊猫主要生活在四川的山区。'];
    assert.equal(ranking('中国的首都是哪里？', documents)[0], 0);
    assert.equal(ranking('上海的经济怎么样', documents)[0], 1);
    assert.equal(ranking('熊猫生活在哪里', documents)[0], 2);
  });

  it('matches spelling variants and accents through character n-grams', () => {
    const query = embedder.embed('Kamchatka');
    assert.ok(cosine(query, embedder.embed('Komchatka')) > 0.3);
    assert.ok(cosine(embedder.embed('café crème'), embedder.embed('cafe creme')) > 0.99);
  });

  it('still embeds a question made only of common words', () => {
    const vector = embedder.embed('what is it?');
    assert.ok(vector.some((value) => value !== 0));
  });
});

describe('offline extractive answerer', () => {
  it('quotes the best-matching sentences, best first, numbered by source', () => {
    const sources = [
      { text: 'Paris is in France. Lyon is known for food.' },
      { text: 'The Eiffel Tower is in Paris. It was finished in 1889.' },
    ];
    const answer = extractiveAnswer('When was the Eiffel Tower finished?', sources, embedder);
    const lines = answer.split('\n');
    assert.ok(lines.length >= 1 && lines.length <= 3);
    assert.match(lines[0] ?? '', /\[2\]$/);
    assert.ok(answer.includes('The Eiffel Tower is in Paris. [2]') || answer.includes('It was finished in 1889. [2]'));
    assert.ok(!answer.includes('Lyon'));
  });

  it('says so when no retrieved sentence matches, instead of inventing', () => {
    assert.equal(extractiveAnswer('quantum chromodynamics', [{ text: 'Bananas are yellow.' }], embedder), NO_SENTENCE_ANSWER);
  });

  it('works on Chinese sentences', () => {
    const answer = extractiveAnswer('熊猫生活在哪里', [{ text: '北京是中国的首都。熊猫主要生活在四川的山区。' }], embedder);
    assert.equal(answer.split('\n')[0], '熊猫主要生活在四川的山区。 [1]');
  });
});

describe('the offline default asked as a newcomer would ask it', () => {
  let test: TestApp;
  before(async () => {
    test = await startTestApp();
    const ingest = await test.app.inject({ method: 'POST', url: '/v1/documents', payload: { documents: EXAMPLE_DOCUMENTS.map((text) => ({ text })) } });
    assert.equal(ingest.statusCode, 201);
  });
  after(() => test.close());

  it('cites no source that shares not a word with the question', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { question: 'What kinds of food is Italy known for?' } });
    const { answer, sources } = response.json();
    assert.equal(answer, `${EXAMPLE_DOCUMENTS[1]} [1]`);
    assert.ok(sources.length >= 1);
    assert.deepEqual(sources.filter((source: { score: number }) => source.score <= 0), []);
    assert.ok(!sources.some((source: { text: string }) => source.text === EXAMPLE_DOCUMENTS[0]), 'Komchatka shares no word with the question');
  });

  it('still returns unmatched chunks when the caller asks for them with min_score', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { question: 'What kinds of food is Italy known for?', k: 5, min_score: -1 } });
    assert.equal(response.json().sources.length, 5);
  });

  it('says plainly that it cannot answer in the language asked for', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/v1/ask', payload: { question: 'What kinds of food is Italy known for?', language: 'French' } });
    assert.equal(response.json().answer, `${EXAMPLE_DOCUMENTS[1]} [1]\n${languageNote('French')}`);
    assert.match(languageNote('French'), /cannot translate/);
  });
});
