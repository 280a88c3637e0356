import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProblemError } from '../../src/errors.js';
import { conversationOf, withinBudget } from '../../src/rag/history.js';

const problem = (status: number, slug: string) => (error: unknown) =>
  error instanceof ProblemError && error.status === status && error.type === `/problems/${slug}`;

describe('conversation messages', () => {
  it('splits instructions, history and the question', () => {
    const conversation = conversationOf([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is Italy famous for?' },
      { role: 'assistant', content: 'Pasta.' },
      { role: 'developer', content: 'Cite sources.' },
      { role: 'user', content: ' And the weather? ' },
    ]);
    assert.deepEqual(conversation, {
      instructions: ['Be brief.', 'Cite sources.'],
      history: [
        { role: 'user', content: 'What is Italy famous for?' },
        { role: 'assistant', content: 'Pasta.' },
      ],
      question: 'And the weather?',
    });
  });

  it('refuses wrong roles, empty content and a last message that is not the user\'s', () => {
    assert.throws(() => conversationOf([]), problem(400, 'bad-request'));
    assert.throws(() => conversationOf([{ role: 'tool', content: 'x' }, { role: 'user', content: 'q' }]), /role "tool"/);
    assert.throws(() => conversationOf([{ role: 'user', content: '  ' }]), /messages\[0\]: the content is empty/);
    assert.throws(() => conversationOf([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }]), /last message must be a user message/);
  });
});

describe('history budget', () => {
  const history = [
    { role: 'user' as const, content: 'one one' },
    { role: 'assistant' as const, content: 'uno' },
    { role: 'user' as const, content: 'two two' },
    { role: 'assistant' as const, content: 'dos' },
    { role: 'user' as const, content: 'three' },
    { role: 'assistant' as const, content: 'tres' },
  ];

  it('keeps everything within the budget', () => {
    assert.deepEqual(withinBudget(history, 'q', { maxTurns: 10, maxChars: 1000 }), history);
  });

  it('drops the oldest turns first, by turns and by characters', () => {
    assert.deepEqual(withinBudget(history, 'q', { maxTurns: 2, maxChars: 1000 }), history.slice(2));
    // 'q' (1) + three/tres (9) + two two/dos (10) = 20 fits; one more turn (10) does not.
    assert.deepEqual(withinBudget(history, 'q', { maxTurns: 10, maxChars: 25 }), history.slice(2));
    assert.deepEqual(withinBudget(history, 'q', { maxTurns: 0, maxChars: 1000 }), []);
    assert.deepEqual(withinBudget(history, 'a question longer than the rest', { maxTurns: 10, maxChars: 32 }), []);
  });

  it('refuses only a question that alone exceeds the characters (413)', () => {
    assert.throws(() => withinBudget([], 'x'.repeat(101), { maxTurns: 10, maxChars: 100 }), problem(413, 'conversation-too-long'));
    assert.deepEqual(withinBudget(history, 'x'.repeat(100), { maxTurns: 10, maxChars: 100 }), []);
  });
});
