/**
 * Device memory of the gpujs backend: where a tensor's elements live, reading them back, releasing them.
 *
 * A storage is in one of two states:
 * - host: a typed array holds the elements (tensors made from host data, results of cpu fall-through kernels,
 *   results of gpu.js's webasm/cpu modes, whose "pipeline" results are plain arrays);
 * - device: a gpu.js texture (GL) holds them; nothing is read back until someone asks.
 * Reading `storage.data` (which is what the cpu kernels and `toTypedArray` do) reads a device storage back once
 * and turns it into a host storage; its texture is released then, because the host copy may be written in place
 * and a stale texture would silently give wrong results.
 *
 * Release: `disposeTensor`/`storage dispose` deletes the texture at once; `deviceScope` disposes every device
 * storage made inside it except those returned; a FinalizationRegistry deletes textures of storages the garbage
 * collector found unreachable, as a backstop only (it may run late or never).
 */
import type { Storage } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import type { Tensor } from '../../tensor.js';
import { collectStorages, makeScopeContext, runThenFinish } from '../../memory.js';

/** What gpu.js returns from a pipeline kernel on a GL backend. */
export interface GpujsTexture {
  toArray(): unknown;
  delete(): void;
}

export interface DeviceState {
  /** Host copy; authoritative when `texture` is null. */
  host: TypedArray | null;
  /** Device copy; authoritative when not null. */
  texture: GpujsTexture | null;
  disposed: boolean;
}

/** A storage of the gpujs backend; `handle` is its DeviceState. */
export interface GpujsStorage extends Storage {
  handle: DeviceState;
}

export function isTexture(x: unknown): x is GpujsTexture {
  return typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && typeof (x as GpujsTexture).toArray === 'function' && typeof (x as GpujsTexture).delete === 'function';
}

/** Backstop: textures of storages that were never disposed are deleted when the storage is collected. */
const backstop = new FinalizationRegistry<DeviceState>((state) => {
  if (!state.disposed && state.texture) {
    state.texture.delete();
    state.texture = null;
  }
});

/** Live device storages (for tests and leak diagnostics). */
let liveTextures = 0;
export function liveTextureCount(): number {
  return liveTextures;
}

/** Reads a device storage back to the host (once) and releases its texture. */
export function readBack(state: DeviceState, length: number, backendName: string): TypedArray {
  if (state.disposed) throw new Error(`${backendName}: storage was disposed; it cannot be read`);
  if (state.texture) {
    const values = state.texture.toArray();
    const flat = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    if (flat.length < length) throw new Error(`${backendName}: texture read back ${flat.length} values, expected ${length}`);
    state.host = flat.length === length ? flat : flat.slice(0, length);
    releaseTexture(state);
  }
  return state.host!;
}

function releaseTexture(state: DeviceState): void {
  if (state.texture) {
    state.texture.delete();
    state.texture = null;
    liveTextures--;
  }
}

/** Makes a storage around a host array or a kernel result (texture or array). */
export function makeStorage(backendName: string, dtype: DType, length: number, content: TypedArray | GpujsTexture): GpujsStorage {
  const state: DeviceState = { host: null, texture: null, disposed: false };
  if (isTexture(content)) {
    state.texture = content;
    liveTextures++;
  } else state.host = content;
  const storage: GpujsStorage = {
    backend: backendName,
    dtype,
    length,
    handle: state,
    // A getter, so that cpu kernels (which read `storage.data`) work on gpujs tensors: the fall-through path.
    get data(): TypedArray | null {
      return readBack(state, length, backendName);
    },
    set data(value: TypedArray | null) {
      releaseTexture(state);
      state.host = value;
    },
  };
  if (state.texture) {
    backstop.register(storage, state, state);
    currentScopeTrack(storage);
  }
  return storage;
}

/** Releases a storage's device memory now. Later reads throw. Idempotent. */
export function disposeStorage(storage: Storage): void {
  const state = storage.handle as DeviceState | undefined;
  if (!state || state.disposed) return;
  releaseTexture(state);
  state.host = null;
  state.disposed = true;
  backstop.unregister(state);
}

/** Releases the device memory of tensors (views share storage: disposing one disposes all its views). */
export function disposeTensor(...tensors: Tensor[]): void {
  for (const t of tensors) if (isGpujsStorage(t.storage)) disposeStorage(t.storage);
}

export function isGpujsStorage(s: Storage): s is GpujsStorage {
  const h = s.handle as DeviceState | undefined;
  return typeof h === 'object' && h !== null && 'texture' in h && 'disposed' in h;
}

/** Whether a tensor's elements currently live only on the device (not read back). */
export function isDeviceResident(t: Tensor): boolean {
  return isGpujsStorage(t.storage) && t.storage.handle.texture !== null;
}

// ---- scopes ------------------------------------------------------------------------------------------------

interface Scope {
  storages: Set<GpujsStorage>;
}

const scopeContext = makeScopeContext<Scope>('deviceScope');

function currentScopeTrack(storage: GpujsStorage): void {
  scopeContext.current()?.storages.add(storage);
}

/**
 * Runs `fn` (sync or async) and, when it finishes, disposes the device memory of every gpujs tensor created
 * inside it, except the tensors it returns (in arrays or plain objects) and those passed to `keep`. Works across
 * `await`. Inner scopes hand their returned tensors to the enclosing scope. Do not dispose tensors that autograd
 * still needs: run `backward()` inside the same scope, or keep what the tape references.
 */
export function deviceScope<T>(fn: (keep: <U extends Tensor>(t: U) => U) => T): T {
  const parent = scopeContext.current();
  const scope: Scope = { storages: new Set() };
  const kept = new Set<Storage>();
  const keep = <U extends Tensor>(t: U): U => {
    kept.add(t.storage);
    return t;
  };
  const finish = (result: unknown) => {
    collectStorages(result, kept);
    for (const s of scope.storages) {
      if (kept.has(s)) parent?.storages.add(s);
      else disposeStorage(s);
    }
  };
  return runThenFinish(() => scopeContext.run(scope, () => fn(keep)), finish);
}

/** Whether scopes follow async code exactly here (AsyncLocalStorage) or form a stack (see deviceScope). */
export function deviceScopeIsAsyncExact(): boolean {
  return scopeContext.exact;
}
