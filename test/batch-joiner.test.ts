/** The order writer's joiner: batches handed in together are one piece of work, with one outcome for all. */
import { describe, expect, it } from 'vitest';
import { BatchJoiner } from '../workers/batch-joiner.js';

describe('BatchJoiner', () => {
  it('does the batches handed in during one turn as one, and later ones apart', async () => {
    const calls: number[][] = [];
    const joiner = new BatchJoiner(async (items: number[]) => { calls.push(items); return items.length; }, 10);
    const together = await Promise.all([joiner.run([1, 2]), joiner.run([3]), Promise.resolve().then(() => joiner.run([4]))]);
    expect(together).toEqual([4, 4, 4]);
    expect(await joiner.run([5])).toBe(1);
    expect(calls).toEqual([[1, 2, 3, 4], [5]]);
  });

  it('keeps batches large by themselves apart, so a backlog is written in parallel', async () => {
    const calls: number[][] = [];
    const joiner = new BatchJoiner(async (items: number[]) => { calls.push(items); return items.length; }, 3);
    expect(await Promise.all([joiner.run([1, 2]), joiner.run([3]), joiner.run([4, 5, 6, 7]), joiner.run([8])])).toEqual([3, 3, 4, 1]);
    expect(calls).toEqual([[1, 2, 3], [4, 5, 6, 7], [8]]);
  });

  it('fails every caller of a failed piece of work, so none commits its offsets', async () => {
    const joiner = new BatchJoiner(async (items: number[]) => { if (items.includes(2)) throw new Error('postgres down'); return 0; }, 10);
    const outcomes = await Promise.allSettled([joiner.run([1]), joiner.run([2])]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(await joiner.run([3])).toBe(0);
  });
});
