/**
 * The allocator of the fast kernels' WebAssembly memory: tensor storage (float32 results that stay in the memory
 * for the next op) and per-call scratch, both in one address range above the GEMM scratch areas.
 *
 * Blocks are rounded up to size classes (64-byte multiples up to 4 KiB, then eight classes per power of two, so at
 * most 12.5% is wasted) and freed blocks wait in per-class lists: a training loop asks for the same sizes every
 * step, so after the first step it allocates without growing. When the bump pointer would pass the limit, free
 * blocks are merged with their neighbours (and the top given back) before the allocation fails.
 */

const ALIGN = 64;

/** Every buffer object of every runtime's memory: arrays on these are heap memory (see `isHeapArray`). */
export const heapBuffers = new WeakSet<ArrayBufferLike>();

/** True when a typed array lies in the fast kernels' memory (which the garbage collector does not manage). */
export function isHeapArray(a: ArrayBufferView): boolean {
  return heapBuffers.has(a.buffer);
}

/** The size class (bytes) a request of `bytes` is served from. */
export function sizeClass(bytes: number): number {
  const b = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  if (b <= 4096) return b;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3); // eight classes per power of two
  return Math.ceil(b / step) * step;
}

export class HeapAllocator {
  private top: number;
  /** Free blocks by class size. */
  private readonly lists = new Map<number, number[]>();
  /** Merged free ranges [address, bytes] (after a compaction), used first-fit before the bump pointer. */
  private ranges: [number, number][] = [];
  /** Class size of every live block. */
  private readonly live = new Map<number, number>();
  /** Bytes in live blocks. */
  used = 0;

  /**
   * @param base first address
   * @param limit addresses stay below this
   * @param ensure makes the memory at least `top` bytes long (grows it)
   */
  constructor(
    readonly base: number,
    /** Addresses stay below this (lowered by tests to reach the limit without gigabytes). */
    public limit: number,
    private readonly ensure: (top: number) => void,
  ) {
    this.top = base;
  }

  /** A block of at least `bytes`, 64-byte aligned, or null when the limit is reached. */
  alloc(bytes: number): number | null {
    const size = sizeClass(bytes);
    const p = this.lists.get(size)?.pop() ?? this.fromRanges(size) ?? this.bump(size) ?? (this.compact(), this.fromRanges(size) ?? this.bump(size));
    if (p === null) return null;
    this.live.set(p, size);
    this.used += size;
    return p;
  }

  free(p: number): void {
    const size = this.live.get(p);
    if (size === undefined) throw new Error(`cpu wasm heap: free of an address that is not a live block (${p})`);
    this.live.delete(p);
    this.used -= size;
    let list = this.lists.get(size);
    if (!list) this.lists.set(size, (list = []));
    list.push(p);
  }

  /** Bytes between the base and the bump pointer (what the memory must hold). */
  get extent(): number {
    return this.top - this.base;
  }

  private bump(size: number): number | null {
    if (this.top + size > this.limit) return null;
    const p = this.top;
    this.ensure(p + size);
    this.top += size;
    return p;
  }

  private fromRanges(size: number): number | null {
    for (let i = 0; i < this.ranges.length; i++) {
      const r = this.ranges[i]!;
      if (r[1] < size) continue;
      const p = r[0];
      if (r[1] === size) this.ranges.splice(i, 1);
      else {
        r[0] += size;
        r[1] -= size;
      }
      return p;
    }
    return null;
  }

  /** Merges every free block and range with its neighbours; a free run that reaches the top lowers it. */
  private compact(): void {
    const free: [number, number][] = [...this.ranges];
    for (const [size, list] of this.lists) for (const p of list) free.push([p, size]);
    this.lists.clear();
    free.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [p, n] of free) {
      const last = merged[merged.length - 1];
      if (last && last[0] + last[1] === p) last[1] += n;
      else merged.push([p, n]);
    }
    const last = merged[merged.length - 1];
    if (last && last[0] + last[1] === this.top) {
      this.top = last[0];
      merged.pop();
    }
    this.ranges = merged;
  }
}
