/**
 * Explicit tensor lifetimes: `tidy`, `keep`, `dispose`.
 *
 * Most memory is garbage-collected, but not all of it: the fast cpu kernels keep float32 results inside their
 * WebAssembly memory (no copy out, no copy back in for the next op), and the gpu.js backend keeps textures.
 * JavaScript's garbage collector cannot free those in time: it does not see their size, and FinalizationRegistry
 * callbacks run only when the event loop turns, never inside a synchronous training loop. So, as in tfjs, code
 * that makes many tensors in a loop runs each iteration inside `tidy`, which releases every storage created
 * inside it when it ends, except those returned or kept.
 *
 * A released storage cannot be read: every access throws (`TensorError` naming `dispose`), so a tensor that
 * escaped its tidy without being returned or kept fails loudly instead of reading reused memory. The rule is the
 * same on every backend and for every size, so code tested on small tensors behaves the same at scale.
 */
import type { Storage } from './backend.js';
import { TensorError } from './shape.js';
import type { Tensor } from './tensor.js';

interface Scope {
  storages: Storage[];
}

/**
 * The current scope has to follow async functions across `await`, or concurrent scopes would claim each other's
 * tensors (the trap of tfjs's `tidy`). Node provides AsyncLocalStorage; we reach it through
 * `process.getBuiltinModule` so that this module has no static Node import and still loads in a browser.
 * Without it (browsers), scopes form a stack, which is exact for sequential code; overlapping (non-nested)
 * async scopes are detected when they end, and reported as an error.
 */
export interface ScopeContext<S> {
  run<T>(scope: S, fn: () => T): T;
  current(): S | undefined;
  readonly exact: boolean;
}

export function makeScopeContext<S>(what: string): ScopeContext<S> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => any } }).process;
  const hooks = proc?.getBuiltinModule?.('node:async_hooks');
  if (hooks?.AsyncLocalStorage) {
    const als = new hooks.AsyncLocalStorage();
    return { run: (scope, fn) => als.run(scope, fn), current: () => als.getStore() as S | undefined, exact: true };
  }
  const stack: S[] = [];
  return {
    run<T>(scope: S, fn: () => T): T {
      stack.push(scope);
      const pop = () => {
        if (stack[stack.length - 1] !== scope) {
          throw new Error(`${what}: async scopes overlapped without nesting; without AsyncLocalStorage (browsers) run scopes one after another`);
        }
        stack.pop();
      };
      let out: T;
      try {
        out = fn();
      } catch (err) {
        pop();
        throw err;
      }
      if (out instanceof Promise) return out.finally(pop) as T;
      pop();
      return out;
    },
    current: () => stack[stack.length - 1],
    exact: false,
  };
}

/** Collects the storages of every tensor reachable in a (nested) array / Map / plain-object result. */
export function collectStorages(value: unknown, into: Set<Storage>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  const storage = (value as Tensor).storage;
  if (storage && typeof storage === 'object' && 'backend' in storage) {
    into.add(storage);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectStorages(v, into, seen);
  else if (value instanceof Map) for (const v of value.values()) collectStorages(v, into, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectStorages(v, into, seen);
}

/**
 * Runs `fn` (sync or async) and calls `finish` with its result when it has one, or with undefined when it throws or
 * rejects (then rethrowing): the shared ending of `tidy` and gpu.js's `deviceScope`.
 */
export function runThenFinish<T>(fn: () => T, finish: (result: unknown) => void): T {
  let out: T;
  try {
    out = fn();
  } catch (err) {
    finish(undefined);
    throw err;
  }
  if (out instanceof Promise) {
    return out.then(
      (v) => {
        finish(v);
        return v;
      },
      (err) => {
        finish(undefined);
        throw err;
      },
    ) as T;
  }
  finish(out);
  return out;
}

const scopes = makeScopeContext<Scope>('tidy');
/** Storages that no tidy may release (`keep`). Weak: a kept storage is still garbage-collected. */
const kept = new WeakSet<Storage>();
/** How each backend releases a storage; set by `setStorageReleaser` (the backend registry). */
let releaseStorage: (s: Storage) => void = () => {};

/** Installs the function that releases a storage (done once by backend.ts; kept separate to avoid a cycle). */
export function setStorageReleaser(fn: (s: Storage) => void): void {
  releaseStorage = fn;
}

/** Records a new storage in the innermost tidy, if any (called wherever storage is made). */
export function trackStorage(s: Storage): void {
  scopes.current()?.storages.push(s);
}

/**
 * Runs `fn` (sync or async) and, when it ends, releases every tensor storage created inside it except those of the
 * tensors it returns (directly, or in arrays, Maps and plain objects) and those passed to `keep`. Nested tidies
 * hand what they return to the enclosing one. Run `backward()` inside the same tidy as the forward pass: the
 * tensors autograd saved are released with the others.
 */
export function tidy<T>(fn: () => T): T {
  const parent = scopes.current();
  const scope: Scope = { storages: [] };
  const finish = (result: unknown) => {
    const survivors = new Set<Storage>();
    collectStorages(result, survivors);
    for (const s of scope.storages) {
      if (survivors.has(s) || kept.has(s)) parent?.storages.push(s);
      else releaseStorage(s);
    }
  };
  return runThenFinish(() => scopes.run(scope, fn), finish);
}

/** Exempts a tensor's storage (shared by all its views) from release by any tidy. Returns the tensor. */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t.storage);
  return t;
}

/**
 * Releases the storage of each tensor now (views share storage: disposing one disposes all its views). Later
 * reads of any of them throw. Idempotent.
 */
export function dispose(...tensors: (Tensor | null | undefined)[]): void {
  for (const t of tensors) if (t) releaseStorage(t.storage);
}

/**
 * Moves a storage's elements out of memory the garbage collector does not manage (the fast kernels' heap) into an
 * ordinary array, so that a raw typed array handed to user code (`dataSync`) can never outlive its memory.
 */
export function moveToGcMemory(s: Storage): void {
  if (!s.free || !s.data) return;
  const free = s.free;
  s.data = s.data.slice() as typeof s.data;
  s.free = undefined;
  free();
}

/** The error for reading a released storage. */
export function disposedError(op: string): TensorError {
  return new TensorError(op, 'the tensor was disposed (by dispose(), or by the end of the tidy() that created it); keep() or return it from the tidy to use it afterwards');
}
