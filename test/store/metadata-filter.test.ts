import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFilter, FilterError } from '../../src/store/metadata-filter.js';

const docs = [
  { lang: 'en', year: 2029, tags: ['news', 'urgent'], author: { name: 'Ada' } },
  { lang: 'zh', year: 2031, tags: ['news'] },
  { lang: 'en', year: 2035, draft: true },
  { year: '2030' },
];
const matching = (filter: unknown) => docs.map((doc, index) => (compileFilter(filter)(doc) ? index : -1)).filter((index) => index >= 0);

describe('metadata filters', () => {
  it('matches equality, with arrays matching any element', () => {
    assert.deepEqual(matching({ lang: 'zh' }), [1]);
    assert.deepEqual(matching({ lang: { $eq: 'en' } }), [0, 2]);
    assert.deepEqual(matching({ tags: 'urgent' }), [0]);
    assert.deepEqual(matching({ draft: true }), [2]);
    assert.deepEqual(matching({ 'author.name': 'Ada' }), [0]);
  });

  it('compares numbers with numbers only', () => {
    assert.deepEqual(matching({ year: { $gte: 2030 } }), [1, 2]);
    assert.deepEqual(matching({ year: { $gt: 2029, $lt: 2035 } }), [1]);
    assert.deepEqual(matching({ year: { $lte: 2029 } }), [0]);
  });

  it('treats a missing field as not equal, as MongoDB does', () => {
    assert.deepEqual(matching({ lang: { $ne: 'en' } }), [1, 3]);
    assert.deepEqual(matching({ lang: { $nin: ['en', 'zh'] } }), [3]);
    assert.deepEqual(matching({ lang: { $in: ['zh', 'fr'] } }), [1]);
  });

  it('combines with $and and $or', () => {
    assert.deepEqual(matching({ $or: [{ lang: 'zh' }, { draft: true }] }), [1, 2]);
    assert.deepEqual(matching({ $and: [{ lang: 'en' }, { year: { $gte: 2030 } }] }), [2]);
    assert.deepEqual(matching({ lang: 'en', tags: 'news' }), [0]);
    assert.deepEqual(matching({}), [0, 1, 2, 3]);
  });

  const malformed: Array<[unknown, RegExp]> = [
    [{ year: { $gte: [1] } }, /filter\.year\.\$gte: \$gte takes a string, number, boolean or null/],
    [{ year: { $gte: true } }, /filter\.year\.\$gte: \$gte takes a number or a string/],
    [{ year: { $between: [1, 2] } }, /filter\.year\.\$between: unknown operator; supported: \$eq/],
    [{ $nor: [] }, /filter\.\$nor: unknown operator/],
    [{ $or: {} }, /filter\.\$or: \$or takes a non-empty array/],
    [{ tags: ['a', 'b'] }, /use \$in for a list/],
    [{ lang: { $in: [] } }, /\$in takes a non-empty array/],
    [{ year: {} }, /needs at least one operator/],
    [['lang'], /filter: a filter is an object/],
    [{ 'a..b': 1 }, /field names must be non-empty/],
  ];
  for (const [filter, message] of malformed) {
    it(`rejects ${JSON.stringify(filter)} saying where and why`, () => {
      assert.throws(() => compileFilter(filter), (error: unknown) => error instanceof FilterError && message.test(error.message));
    });
  }
});
