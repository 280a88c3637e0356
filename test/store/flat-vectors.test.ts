import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compiledDotProducts } from '../../scripts/wasm-source.js';
import { FlatVectors } from '../../src/store/flat-vectors.js';

const DIMENSIONS = 16;

/** A vector pointing mostly along one axis, so the nearest stored vector to it is known. */
function axis(position: number, wobble = 0): number[] {
  const vector = Array.from({ length: DIMENSIONS }, (_, i) => Math.sin(position * 31 + i * 7 + wobble) * 0.05);
  vector[position % DIMENSIONS] = 1;
  return vector;
}

describe('exact tier (FlatVectors)', () => {
  it('finds the exact nearest vectors across several pages, best first, and reads each vector back at unit length', () => {
    const flat = new FlatVectors(DIMENSIONS);
    const count = 5000; // three pages of 2,048 rows
    for (let label = 0; label < count; label++) flat.add(label, axis(label, label));
    assert.equal(flat.size, count);
    const hits = flat.search(axis(7, 7), 5);
    assert.equal(hits[0]?.label, 7);
    assert.ok(hits[0].score > 0.999);
    assert.deepEqual(hits.map((hit) => hit.score), [...hits.map((hit) => hit.score)].sort((a, b) => b - a));
    const stored = flat.vector(4999) as Float32Array;
    assert.ok(Math.abs(Math.hypot(...stored) - 1) < 1e-6);
  });

  it('removes from any page, moving the store\'s last row into the hole, and drops pages that empty', () => {
    const flat = new FlatVectors(DIMENSIONS);
    for (let label = 0; label < 2100; label++) flat.add(label, axis(label, label));
    assert.equal(flat.remove(5), true);
    assert.equal(flat.remove(5), false);
    assert.ok(flat.vector(2047), 'the first page\'s last row is still stored');
    const original = axis(2047, 2047);
    const length = Math.hypot(...original);
    const moved = Array.from(flat.vector(2047) as Float32Array);
    assert.ok(moved.every((value, i) => Math.abs(value - (original[i] as number) / length) < 1e-6), 'the moved row still reads as itself');
    assert.equal(flat.search(axis(2047, 2047), 1)[0]?.label, 2047);
    for (let label = 2048; label < 2100; label++) flat.remove(label);
    assert.equal(flat.lastLabel(), 2046, 'the second page emptied and went; the first page\'s last row is next');
    assert.equal(flat.size, 2047);
    assert.ok(flat.search(axis(5, 5), 3).every((hit) => hit.label !== 5));
  });

  it('keeps every page but the last full under churn, so its memory follows what is stored', () => {
    const flat = new FlatVectors(DIMENSIONS);
    const live = new Set<number>();
    let next = 0;
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (; next < 3000; next++) {
      flat.add(next, axis(next, next));
      live.add(next);
    }
    // 20,000 more ingests, each with a delete of a random stored vector: the size stays at 3,000.
    for (let round = 0; round < 20_000; round++, next++) {
      const victims = [...live];
      const victim = victims[Math.floor(random() * victims.length)] as number;
      assert.equal(flat.remove(victim), true);
      live.delete(victim);
      flat.add(next, axis(next, next));
      live.add(next);
    }
    assert.equal(flat.size, 3000);
    assert.equal(flat.capacity, 2 * 2048, 'two pages for 3,000 rows, whatever was deleted where');
    for (const label of [...live].slice(0, 50)) {
      const original = axis(label, label);
      const length = Math.hypot(...original);
      const stored = Array.from(flat.vector(label) as Float32Array);
      assert.ok(stored.every((value, i) => Math.abs(value - (original[i] as number) / length) < 1e-6), `label ${label} reads as itself`);
      const [hit] = flat.search(original, 1, (candidate) => candidate === label);
      assert.ok(hit && Math.abs(hit.score - 1) < 1e-5, `label ${label} is found as itself`);
    }
  });

  it('returns k visible vectors when the filter hides the best ones, and all it has when fewer exist', () => {
    const flat = new FlatVectors(DIMENSIONS);
    for (let label = 0; label < 3000; label++) flat.add(label, axis(label, label));
    const hits = flat.search(axis(3, 3), 4, (label) => label % 100 === 0);
    assert.equal(hits.length, 4);
    assert.ok(hits.every((hit) => hit.label % 100 === 0));
    assert.equal(flat.search(axis(3, 3), 50, (label) => label < 10).length, 10);
    assert.equal(flat.search(axis(3, 3), 50, () => false).length, 0);
  });

  it('exports every row with its label, and a copy loads back to the same search results', () => {
    const flat = new FlatVectors(DIMENSIONS);
    for (let label = 10; label < 2500; label++) flat.add(label, axis(label, label));
    flat.remove(11);
    const { labels, blocks } = flat.export();
    assert.equal(labels.length, 2489);
    assert.deepEqual(blocks.map((block) => block.length / DIMENSIONS), [2048, 441], 'page by page, every page but the last full');
    const vectors = new Float32Array(labels.length * DIMENSIONS);
    blocks.reduce((offset, block) => (vectors.set(block, offset), offset + block.length), 0);
    const copy = new FlatVectors(DIMENSIONS);
    labels.forEach((label, row) => copy.add(label, vectors.subarray(row * DIMENSIONS, (row + 1) * DIMENSIONS)));
    for (const probe of [12, 1000, 2499]) assert.deepEqual(copy.search(axis(probe, probe), 3), flat.search(axis(probe, probe), 3));
  });

  it('exports rows without their padding when the dimensions are not a multiple of 4', () => {
    const padded = new FlatVectors(3);
    padded.add(1, [3, 0, 4]);
    padded.add(2, [0, 2, 0]);
    const { labels, blocks } = padded.export();
    assert.deepEqual(labels, [1, 2]);
    assert.deepEqual([...(blocks[0] as Float32Array)], [0.6000000238418579, 0, 0.800000011920929, 0, 1, 0]);
  });

  it('scores exactly what plain cosine similarity gives, whatever the dimensions (padding included), after removals', () => {
    for (const dimensions of [3, 10, 16, 1024]) {
      let seed = dimensions;
      const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
      const vectors = Array.from({ length: 2100 }, () => Array.from({ length: dimensions }, random));
      const flat = new FlatVectors(dimensions);
      vectors.forEach((vector, label) => flat.add(label, vector));
      for (let label = 0; label < 2100; label += 3) flat.remove(label);
      const query = Array.from({ length: dimensions }, random);
      const cosine = (a: number[], b: number[]) => a.reduce((sum, value, i) => sum + value * (b[i] as number), 0) / (Math.hypot(...a) * Math.hypot(...b));
      const expected = vectors
        .map((vector, label) => ({ label, score: cosine(query, vector) }))
        .filter(({ label }) => label % 3 !== 0)
        .sort((a, b) => b.score - a.score)
        .slice(0, 10);
      const hits = flat.search(query, 10);
      assert.deepEqual(hits.map((hit) => hit.label), expected.map((hit) => hit.label), `${dimensions} dimensions`);
      hits.forEach((hit, position) => assert.ok(Math.abs(hit.score - (expected[position] as { score: number }).score) < 1e-5));
    }
  });

  it('runs the WebAssembly compiled from the committed dot-products.wat (npm run generate:wasm)', async () => {
    const committed = readFileSync(new URL('../../src/store/dot-products-wasm.ts', import.meta.url), 'utf8');
    assert.equal(committed, await compiledDotProducts(), 'src/store/dot-products-wasm.ts is stale: run npm run generate:wasm');
  });

  it('refuses a vector, or a query, of another size', () => {
    assert.throws(() => new FlatVectors(DIMENSIONS).add(1, [1, 2, 3]), /vector has 3 dimensions, the store holds 16-dimensional vectors/);
    const flat = new FlatVectors(DIMENSIONS);
    flat.add(1, axis(1));
    assert.throws(() => flat.search([1, 2, 3], 1), /vector has 3 dimensions, the store holds 16-dimensional vectors/);
  });
});
