import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cleanQuery, localKeywordsQuery } from '../../src/rag/condense.js';

describe('condensing a follow-up', () => {
  it('local-keywords: the question, then the content words of earlier user turns, newest first, none twice', () => {
    const history = [
      { role: 'user' as const, content: 'Tell me about Italy.' },
      { role: 'assistant' as const, content: 'Italy has volcanoes.' },
      { role: 'user' as const, content: 'What is the weather like in Rome?' },
      { role: 'assistant' as const, content: 'Hot.' },
    ];
    assert.equal(localKeywordsQuery({ question: 'And the food there?', history }), 'And the food there? weather like rome italy');
    assert.equal(localKeywordsQuery({ question: 'Is Rome hot?', history: history.slice(0, 3) }), 'Is Rome hot? weather like italy');
    assert.equal(localKeywordsQuery({ question: 'Anything else?', history: [{ role: 'user', content: 'Tell me.' }] }), 'Anything else?');
    assert.equal(localKeywordsQuery({ question: 'Is it healthy?', history: [{ role: 'user', content: 'Tell me about pasta.' }] }), 'Is it healthy? pasta');
  });

  it('local-keywords: a follow-up of a follow-up keeps the named entity, not the previous follow-up\'s topic', () => {
    const history = [
      { role: 'user' as const, content: 'What is Italy known for?' },
      { role: 'assistant' as const, content: 'Food and sunshine.' },
      { role: 'user' as const, content: 'What is the weather like there?' },
      { role: 'assistant' as const, content: 'Hot, dry summers.' },
    ];
    assert.equal(localKeywordsQuery({ question: 'What food there?', history }), 'What food there? italy');
    // A word several turns share is kept as what they are about, though not capitalised.
    const shared = [
      { role: 'user' as const, content: 'When did the warehouse open?' },
      { role: 'user' as const, content: 'Who runs the warehouse now?' },
      { role: 'user' as const, content: 'And what does it cost?' },
    ];
    assert.equal(localKeywordsQuery({ question: 'How big is it?', history: shared }), 'How big is it? warehouse');
  });

  it('cleans what the model writes to one line of query', () => {
    assert.equal(cleanQuery('"What is the weather like in Italy?"\nI hope this helps.', 'q'), 'What is the weather like in Italy?');
    assert.equal(cleanQuery('Standalone search query: weather in Italy', 'q'), 'weather in Italy');
    assert.equal(cleanQuery('  \n ', 'the question'), 'the question');
  });
});
