/**
 * Where the time goes: `profile(fn)` runs `fn` and returns, per kernel call site, how many calls ran and how many
 * milliseconds they took, plus the time spent in JavaScript around them (module code, op checks, the autograd
 * tape, the optimizer's loops), so that the entries add up to the wall time of `fn`.
 *
 * How it hooks in, and why it costs nothing when off: while a profile runs, every kernel of every registered
 * backend's table is replaced by a timing wrapper (see `instrument`), and put back when it ends. `findKernel`
 * reads the table at each call, so every op is seen; outside a profile the tables hold the kernels themselves and
 * no profiling code runs on the op path at all. `profileSection` and `profileScope` (for code that is not a kernel:
 * the backward pass, the optimizer, a module's forward) cost one boolean check when off.
 *
 * Attribution: every entry is keyed by
 * - `phase`: the innermost `profileSection` (`forward`, `backward`, `optimizer`, `ema`, ... as the libraries mark
 *   them; `(top)` outside any);
 * - `scope`: the innermost `profileScope`: in a forward pass the class of the module whose `forward` runs (with the
 *   `modules` option); in the backward pass the scope in which the forward op being differentiated ran (the kernel
 *   wrapper remembers, for each tensor a kernel returns, the scope it was made in: see `forwardScopeOf`);
 * - `grad`: in the backward pass, the forward op whose gradient entry runs (null elsewhere);
 * - `op`: the kernel's name, or `(js)` for time in that phase and scope outside any kernel.
 * Times are self times: a kernel that calls another kernel (a fast kernel falling back to a reference one through
 * an op) is charged without the nested call, so no millisecond is counted twice and the sum of all entries is the
 * wall time of `fn` (up to the few microseconds of the timer calls themselves, which land in `(js)`).
 *
 * What it cannot split: the fast conv kernels run im2col / col2im and the GEMM interleaved in one call list per
 * worker thread, so conv forward / input gradient / weight gradient are each one entry, packing included. Times
 * are host wall time: on a device backend that queues work they measure the launch, not the device.
 *
 * Not re-entrant: profiling inside a profile throws. An async `fn` (`profileAsync`) also times whatever else the
 * event loop runs meanwhile.
 */
import { getBackend, listBackends, type KernelFn } from './backend.js';
import type { Tensor } from './tensor.js';

/** One row of a profile: calls and self milliseconds of one kernel (or of JavaScript) at one place. */
export interface ProfileEntry {
  phase: string;
  scope: string;
  /** In the backward pass, the forward op whose gradient entry ran; null elsewhere. */
  grad: string | null;
  /** Kernel name, or `(js)`: time in this phase and scope outside any kernel. */
  op: string;
  /** What kind of work it is (see `kindOf`): 'GEMM (matmul)', 'conv forward', 'norms', 'optimizer update', ... */
  kind: string;
  calls: number;
  /** Self time: excluding nested kernels. */
  ms: number;
}

/** Entries summed by some key: total calls and milliseconds, and the share of the profile's wall time. */
export interface ProfileTotal {
  key: string;
  calls: number;
  ms: number;
  fraction: number;
}

export interface Profile {
  /** Wall time of `fn`, milliseconds. */
  wallMs: number;
  /** Every (phase, scope, grad, op) with at least one call, largest time first. */
  entries: ProfileEntry[];
  /** Totals by kind of work, largest first. */
  byKind(): ProfileTotal[];
  /** Totals by kernel name (`(js)` for all JavaScript time), largest first. */
  byOp(): ProfileTotal[];
  /** Totals by phase, largest first. */
  byPhase(): ProfileTotal[];
  /** Totals by any key of the entries. */
  totals(key: (e: ProfileEntry) => string): ProfileTotal[];
  /** Markdown tables: by kind, by phase, and the `top` largest entries (default 25). */
  toMarkdown(opts?: { top?: number }): string;
}

export interface ProfileOptions {
  /**
   * Objects with a `forward` method (e.g. `model.modules()` of @oclt/autograd) whose forward passes become scopes
   * named after their class, so that kernels are charged to the module that ran them (GroupNorm's elementwise ops
   * to 'norms'). Each instance's `forward` is shadowed by an own property for the duration of the profile.
   */
  modules?: Iterable<object>;
  /** Key kernels by their inputs' shapes too (`matmul [4096,32]x[32,96]`), to find the one call site that is slow. */
  shapes?: boolean;
}

// ---- state ----------------------------------------------------------------------------------------------

let active = false;
let phase = '(top)';
let scope: string | null = null;
let grad: string | null = null;
const NO_SCOPE = '-';

interface Accum {
  phase: string;
  scope: string;
  grad: string | null;
  op: string;
  calls: number;
  ms: number;
}
let table = new Map<string, Accum>();
/** Duration of the frames nested in the current frame, so far; a stack, one slot per open frame. */
let childMs: number[] = [];
/** The scope each tensor returned by a kernel was made in (only forward scopes, i.e. outside gradient entries). */
let madeIn = new WeakMap<Tensor, string>();

const now = (): number => performance.now();

function charge(op: string, calls: number, ms: number): void {
  const s = scope ?? NO_SCOPE;
  const key = `${phase}\u0000${s}\u0000${grad ?? ''}\u0000${op}`;
  let a = table.get(key);
  if (!a) {
    a = { phase, scope: s, grad, op, calls: 0, ms: 0 };
    table.set(key, a);
  }
  a.calls += calls;
  a.ms += ms;
}

/** Runs `body` as a frame: its self time (minus nested frames) is charged to `op` in the context at exit. */
function frame<T>(op: string, body: () => T): T {
  childMs.push(0);
  const start = now();
  try {
    return body();
  } finally {
    const dur = now() - start;
    const nested = childMs.pop()!;
    charge(op, op === JS ? 0 : 1, dur - nested);
    if (childMs.length > 0) childMs[childMs.length - 1]! += dur;
  }
}
const JS = '(js)';

/** Runs `body` with phase/scope/grad set, as a (js) frame of that context. */
function inContext<T>(p: string, s: string | null, g: string | null, body: () => T): T {
  const saved = [phase, scope, grad] as const;
  phase = p;
  scope = s;
  grad = g;
  try {
    return frame(JS, body);
  } finally {
    [phase, scope, grad] = saved;
  }
}

// ---- hooks for the libraries ----------------------------------------------------------------------------

/** Whether a profile is running. */
export function isProfiling(): boolean {
  return active;
}

/** Runs `fn` as phase `name` of a profile (e.g. 'backward', 'optimizer'); just `fn()` when none runs. */
export function profileSection<T>(name: string, fn: () => T): T {
  if (!active) return fn();
  return inContext(name, scope, grad, fn);
}

/** Runs `fn` in scope `name` (a module's class name, say) of a profile; just `fn()` when none runs. */
export function profileScope<T>(name: string, fn: () => T): T {
  if (!active) return fn();
  return inContext(phase, name, null, fn);
}

/**
 * Runs the gradient entry of forward op `op`, whose output was `output`, as a scope of the backward pass: its
 * kernels are charged to the scope `output` was made in and to `grad` = `op`. Just `fn()` when no profile runs.
 */
export function profileGradient<T>(op: string, output: Tensor, fn: () => T): T {
  if (!active) return fn();
  return inContext(phase, madeIn.get(output) ?? NO_SCOPE, op, fn);
}

/** The scope a kernel made `t` in during the running profile (undefined if none, or not made by a kernel). */
export function forwardScopeOf(t: Tensor): string | undefined {
  return madeIn.get(t);
}

// ---- instrumenting the kernel tables ------------------------------------------------------------------------

let withShapes = false;
const shapeKey = (name: string, inputs: readonly Tensor[]) => `${name} ${inputs.map((t) => `[${t.shape.join(',')}]`).join('x')}`;

function timed(name: string, fn: KernelFn): KernelFn {
  return (inputs, attrs) => {
    const out = frame(withShapes ? shapeKey(name, inputs) : name, () => fn(inputs, attrs));
    if (grad === null && scope !== null && !madeIn.has(out)) madeIn.set(out, scope);
    return out;
  };
}

/** Wraps every kernel of every backend; returns the function that puts the originals back. */
function instrument(): () => void {
  const undo: (() => void)[] = [];
  for (const b of listBackends()) {
    const kernels = getBackend(b).kernels as Record<string, KernelFn>;
    for (const [name, fn] of Object.entries(kernels)) {
      const w = timed(name, fn);
      kernels[name] = w;
      // A kernel registered while profiling (setCpuKernels, registerKernel) stays.
      undo.push(() => {
        if (kernels[name] === w) kernels[name] = fn;
      });
    }
  }
  return () => undo.forEach((u) => u());
}

/** Shadows each module's forward by a scoped one; returns the function that removes the shadows. */
function scopeModules(modules: Iterable<object> | undefined): () => void {
  if (!modules) return () => {};
  const undo: (() => void)[] = [];
  for (const m of modules) {
    const forward = (m as { forward?: unknown }).forward;
    if (typeof forward !== 'function' || Object.prototype.hasOwnProperty.call(m, 'forward')) continue;
    const name = m.constructor?.name || 'Module';
    Object.defineProperty(m, 'forward', {
      configurable: true,
      writable: true,
      value(this: object, ...args: unknown[]) {
        return profileScope(name, () => forward.apply(this, args));
      },
    });
    undo.push(() => delete (m as { forward?: unknown }).forward);
  }
  return () => undo.forEach((u) => u());
}

function begin(opts: ProfileOptions): () => void {
  if (active) throw new Error('profile: a profile is already running (profiles do not nest)');
  table = new Map();
  childMs = [];
  madeIn = new WeakMap();
  phase = '(top)';
  scope = null;
  grad = null;
  withShapes = opts.shapes ?? false;
  const restoreKernels = instrument();
  const restoreModules = scopeModules(opts.modules);
  active = true;
  return () => {
    active = false;
    restoreModules();
    restoreKernels();
  };
}

/**
 * Runs `fn` (synchronous) and returns where its time went. The tables are restored when `fn` returns or throws
 * (a throw propagates, with no profile).
 */
export function profile(fn: () => unknown, opts: ProfileOptions = {}): Profile {
  const end = begin(opts);
  const start = now();
  let wall: number;
  try {
    const r = frame(JS, fn);
    if (r instanceof Promise) throw new Error('profile: fn returned a Promise; use profileAsync for async code');
  } finally {
    wall = now() - start;
    end();
  }
  return makeProfile(wall, [...table.values()]);
}

/** `profile` for an async `fn`: everything the event loop runs until it settles is profiled too. */
export async function profileAsync(fn: () => Promise<unknown>, opts: ProfileOptions = {}): Promise<Profile> {
  const end = begin(opts);
  const start = now();
  childMs.push(0);
  let wall: number;
  try {
    await fn();
  } finally {
    wall = now() - start;
    // The time outside kernels and sections, which `frame` cannot wrap across awaits.
    const nested = childMs.pop()!;
    charge(JS, 0, wall - nested);
    end();
  }
  return makeProfile(wall, [...table.values()]);
}

// ---- the report ------------------------------------------------------------------------------------------

const COPIES = new Set(['copy', 'concat', 'pad', 'gather', 'scatterAdd', 'cast', 'where']);
const REDUCTIONS = new Set(['sum', 'max', 'min', 'argmax', 'argmin']);
const SOFTMAX = new Set(['softmax', 'logSoftmax']);
const POOLS = new Set(['maxPool2d', 'maxPool2dBackward', 'avgPool2d', 'avgPool2dBackward']);
/** Scopes whose elementwise and reduction kernels are a normalisation. */
const NORM_SCOPES = new Set(['GroupNorm', 'LayerNorm', 'BatchNorm', 'BatchNorm2d', 'RMSNorm']);

/**
 * The kind of work of an entry: GEMM and the three conv kernels by name; then any kernel in a normalisation
 * module's scope is 'norms'; softmax, copies / gathers, reductions, pooling, elementwise by name; kernels the
 * backward pass runs outside gradient entries (summing a tensor's gradients over its uses, copying a leaf's) are
 * 'backward accumulation'; JavaScript time is named after its phase ('tape/backward overhead (JS)', ...).
 */
export function kindOf(e: Pick<ProfileEntry, 'phase' | 'scope' | 'grad' | 'op'>): string {
  const op = e.op.split(' ', 1)[0]!;
  if (op === JS) {
    switch (e.phase) {
      case 'backward':
        return 'tape/backward overhead (JS)';
      case 'optimizer':
        return 'optimizer update';
      case 'ema':
        return 'EMA update';
      case 'clip':
        return 'gradient clipping';
      case 'data':
        return 'data + noising (JS)';
      default:
        return 'forward overhead (JS: modules, op checks, views)';
    }
  }
  if (op === 'matmul') return 'GEMM (matmul)';
  if (op === 'conv2d') return 'conv forward';
  if (op === 'conv2dBackwardInput') return 'conv input gradient';
  if (op === 'conv2dBackwardWeight') return 'conv weight gradient';
  if (e.phase === 'optimizer') return 'optimizer update';
  if (e.phase === 'ema') return 'EMA update';
  if (e.phase === 'clip') return 'gradient clipping';
  if (NORM_SCOPES.has(e.scope)) return 'norms (elementwise + reductions)';
  if (SOFTMAX.has(op)) return 'softmax';
  if (e.phase === 'backward' && e.grad === null) return 'backward accumulation (add, clone)';
  if (COPIES.has(op)) return 'copies / gathers';
  if (REDUCTIONS.has(op)) return 'reductions';
  if (POOLS.has(op)) return 'pooling';
  return 'elementwise';
}

function makeProfile(wallMs: number, accums: Accum[]): Profile {
  const entries: ProfileEntry[] = accums
    .filter((a) => a.calls > 0 || a.ms > 0)
    .map((a) => ({ ...a, ms: Math.max(0, a.ms), kind: kindOf(a) }))
    .sort((x, y) => y.ms - x.ms);
  const totals = (key: (e: ProfileEntry) => string): ProfileTotal[] => {
    const m = new Map<string, ProfileTotal>();
    for (const e of entries) {
      const k = key(e);
      const t = m.get(k) ?? { key: k, calls: 0, ms: 0, fraction: 0 };
      t.calls += e.calls;
      t.ms += e.ms;
      m.set(k, t);
    }
    const out = [...m.values()].sort((x, y) => y.ms - x.ms);
    for (const t of out) t.fraction = wallMs > 0 ? t.ms / wallMs : 0;
    return out;
  };
  const p: Profile = {
    wallMs,
    entries,
    totals,
    byKind: () => totals((e) => e.kind),
    byOp: () => totals((e) => e.op),
    byPhase: () => totals((e) => e.phase),
    toMarkdown: (opts = {}) => profileMarkdown(p, opts.top ?? 25),
  };
  return p;
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function totalsTable(title: string, rows: ProfileTotal[]): string {
  return [`| ${title} | calls | ms | share |`, '|---|---:|---:|---:|', ...rows.map((r) => `| ${r.key} | ${r.calls} | ${ms(r.ms)} | ${pct(r.fraction)} |`)].join('\n');
}

/** The profile as Markdown: by kind, by phase, then the largest entries. */
export function profileMarkdown(p: Profile, top = 25): string {
  const head = p.entries.slice(0, top);
  const entries = [
    '| phase | scope | gradient of | kernel | kind | calls | ms | share |',
    '|---|---|---|---|---|---:|---:|---:|',
    ...head.map((e) => `| ${e.phase} | ${e.scope} | ${e.grad ?? ''} | ${e.op} | ${e.kind} | ${e.calls} | ${ms(e.ms)} | ${pct(p.wallMs > 0 ? e.ms / p.wallMs : 0)} |`),
  ].join('\n');
  return [
    `Wall time ${ms(p.wallMs)} ms. Self times (nested kernels excluded), so the rows of each table sum to the wall time.`,
    '',
    totalsTable('kind', p.byKind()),
    '',
    totalsTable('phase', p.byPhase()),
    '',
    `Largest ${head.length} of ${p.entries.length} entries:`,
    '',
    entries,
  ].join('\n');
}
