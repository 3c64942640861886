/**
 * The collection hint (issue 20 item 5): results of tensors a loop without tidy dropped are freed by the runtime's
 * FinalizationRegistry only after V8 finds them dead, and once they were promoted that takes a major collection
 * nothing prompts (bench plain-loop: 1 GiB still held after the loop and a turn). When live results pass 3/4 of
 * their bound, the fast kernels ask for one full collection at the next turn of the event loop.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as T from '../../../index.js';
import { collectionHints } from './index.js';

const MiB = 2 ** 20;
const turn = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  T.cpuResultLimit(1024 * MiB);
  collectionHints.collector = undefined;
  collectionHints.enabled = true;
  vi.restoreAllMocks();
});

/** Short-lived garbage: enough allocation for several young-generation collections, which promote what is held. */
function churn(): number {
  let s = 0;
  for (let i = 0; i < 40; i++) s += Array.from({ length: 50_000 }, (_, k) => ({ k })).length;
  return s;
}

describe.runIf(T.cpuKernelsInfo().startsWith('cpu:wasm'))('the collection hint', () => {
  it('frees the results a loop dropped after it ends, without the program collecting anything itself', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    T.cpuResultLimit(8 * MiB);
    const before = T.cpuMemoryInfo().resultBytes;
    const asked = collectionHints.asked;
    const x = T.tensor(new Float32Array(65_536).fill(1)); // 256 KiB per result
    let held: T.Tensor[] = [];
    // A synchronous loop keeps ~7.5 MiB of results (past 3/4 of 8 MiB) alive long enough to be promoted, then drops them.
    for (let i = 0; i < 30; i++) {
      held.push(x.mul(i));
      if (i % 10 === 0) churn();
    }
    churn();
    expect(T.cpuMemoryInfo().resultBytes - before).toBeGreaterThan(6 * MiB);
    held = [];
    expect(collectionHints.asked - asked).toBe(1); // asked once, from inside the loop, for later
    // Turns of the event loop only (no gc() here): the hint's collection runs, then the finalizers free the blocks.
    for (let t = 0; t < 100 && T.cpuMemoryInfo().resultBytes - before > 1 * MiB; t++) await turn(5);
    expect(T.cpuMemoryInfo().resultBytes - before).toBeLessThanOrEqual(1 * MiB); // x (256 KiB) is still live
    expect(x.toTypedArray()[7]).toBe(1);
    expect(held).toHaveLength(0);
    T.dispose(x);
  });

  it('is asked once while live results legitimately stay above 3/4, and again only after they fell below half', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const collect = vi.fn();
    collectionHints.collector = collect;
    T.cpuResultLimit(8 * MiB);
    const x = T.tensor(new Float32Array(65_536).fill(2));
    const live: T.Tensor[] = [];
    for (let i = 0; i < 28; i++) live.push(x.add(i)); // 7 MiB + x, all referenced
    for (let round = 0; round < 5; round++) {
      await turn();
      T.dispose(x.mul(round)); // more ops above 3/4, with turns between them
    }
    await turn();
    expect(collect).toHaveBeenCalledTimes(1);
    T.dispose(...live.splice(0, 20)); // below half: re-armed
    T.dispose(x.mul(1));
    for (let i = 0; i < 20; i++) live.push(x.add(i)); // above 3/4 again
    await turn();
    expect(collect).toHaveBeenCalledTimes(2);
    // Every live result kept its values through it all.
    live.forEach((t) => expect(Number.isFinite(t.toTypedArray()[0])).toBe(true));
    expect(live[0]!.toTypedArray()[5]).toBe(2 + 20);
    T.dispose(x, ...live);
  });

  it('can be turned off (collectionHints.enabled = false): then nothing is asked', async () => {
    const collect = vi.fn();
    collectionHints.collector = collect;
    collectionHints.enabled = false;
    T.cpuResultLimit(4 * MiB);
    const x = T.tensor(new Float32Array(65_536).fill(3));
    const live = Array.from({ length: 15 }, (_, i) => x.add(i));
    await turn();
    expect(collect).not.toHaveBeenCalled();
    T.dispose(x, ...live);
  });
});
