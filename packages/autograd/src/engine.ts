/**
 * Reverse-mode automatic differentiation over the tape that @oclt/tensor records.
 *
 * Every recorded tensor has `node = { op, inputs, attrs }`. `backward(loss)` walks the graph once in reverse
 * topological order, so each tensor's gradient is complete (summed over all its uses) before it is pushed to
 * its inputs through the op's entry in the gradient table (src/gradients/). Leaves that require gradients
 * (parameters, inputs: `requiresGrad && node === null`) get their gradient ADDED to `.grad`, as a new tensor:
 * storage is never mutated, so a `.grad` is never shared with another tensor. Intermediates keep no gradient
 * unless `retainGrad(t)` was called on them.
 *
 * Importing @oclt/autograd installs `backward` as the hook behind `Tensor.prototype.backward`, so that
 * `loss.backward()` works. The backward pass itself runs under noGrad: gradients are not differentiable
 * again (no higher-order derivatives for now), and it records nothing.
 */
import { add, cast, clone, dispose, noGrad, ones, profileGradient, profileSection, setBackwardHook, tidy, Tensor, zeros, type Storage } from '@oclt/tensor';
import { gradientTable, type GradientFn } from './gradients/index.js';

/** Intermediates whose gradient should be stored in `.grad` by the next backward passes. */
const retained = new WeakSet<Tensor>();

/** Asks backward to keep the gradient of a non-leaf tensor in its `.grad` (like torch's retain_grad). */
export function retainGrad(t: Tensor): Tensor {
  if (!t.requiresGrad) throw new Error(`retainGrad: the tensor of shape [${t.shape}] does not require gradients`);
  retained.add(t);
  return t;
}

/**
 * The tensors `root` depends on through recorded ops, in topological order (inputs before the ops that use
 * them). Iterative depth-first search, so deep graphs cannot overflow the call stack.
 */
export function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>([root]);
  const stack: { t: Tensor; next: number }[] = [{ t: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const inputs = top.t.node?.inputs ?? [];
    if (top.next < inputs.length) {
      const input = inputs[top.next++]!;
      if (input.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push({ t: input, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The seed gradient: ones for a one-element root, otherwise the caller's tensor of the root's shape. */
function seedGradient(fnName: string, root: Tensor, seed: Tensor | undefined): Tensor {
  if (seed === undefined) {
    if (root.size !== 1) {
      throw new Error(`${fnName}: the output has shape ${fmt(root.shape)}; pass a gradient of that shape or reduce it to one element first`);
    }
    return ones(root.shape, root.dtype);
  }
  if (!(seed instanceof Tensor)) throw new Error(`${fnName}: the output gradient must be a Tensor`);
  if (seed.ndim !== root.ndim || seed.shape.some((d, i) => d !== root.shape[i])) {
    throw new Error(`${fnName}: the output gradient has shape ${fmt(seed.shape)}, expected the output's shape ${fmt(root.shape)}`);
  }
  return seed.dtype === root.dtype ? seed : cast(seed, root.dtype);
}

/**
 * The core pass: propagates `seed` from `root` and calls `onGradient(t, g)` once for every tensor of the graph
 * for which `wanted(t)` is true, with its complete gradient; it returns what it stored, which outlives the pass.
 * Runs under noGrad.
 *
 * Memory: gradients are released as soon as nothing needs them (see memory.ts in @oclt/tensor): each gradient
 * function runs in a `tidy`, so its temporaries go when it returns, and a tensor's gradient, once pushed to its
 * inputs, is disposed unless another pending gradient shares its storage (pass-through ops such as add, views such
 * as reshape) or `onGradient` stored it. Storages of the forward graph and of the caller's seed are never touched.
 */
function propagate(fnName: string, root: Tensor, seed: Tensor | undefined, wanted: (t: Tensor) => boolean, onGradient: (t: Tensor, g: Tensor) => Tensor | null): void {
  if (!(root instanceof Tensor)) throw new Error(`${fnName}: expected a Tensor`);
  if (!root.requiresGrad) {
    throw new Error(
      `${fnName}: the tensor of shape ${fmt(root.shape)} does not require gradients (no input had requiresGrad set, or it was computed under noGrad or from detached tensors)`,
    );
  }
  // A phase of a profile (see profile.ts in @oclt/tensor); one boolean check otherwise.
  profileSection('backward', () => noGrad(() =>
    tidy(() => {
      const order = topologicalOrder(root);
      const seedGrad = seedGradient(fnName, root, seed);
      const untouchable = new Set<Storage>([seedGrad.storage]);
      for (const t of order) {
        untouchable.add(t.storage);
        for (const x of t.node?.inputs ?? []) untouchable.add(x.storage);
      }
      const stored: Tensor[] = [];
      /** How many pending gradients use each storage. */
      const holders = new Map<Storage, number>();
      const hold = (g: Tensor, d: number) => holders.set(g.storage, (holders.get(g.storage) ?? 0) + d);
      const releaseIfFree = (g: Tensor) => {
        if (!holders.get(g.storage) && !untouchable.has(g.storage)) dispose(g);
      };
      const grads = new Map<Tensor, Tensor>([[root, seedGrad]]);
      hold(seedGrad, 1);
      for (let i = order.length - 1; i >= 0; i--) {
        const t = order[i]!;
        const g = grads.get(t);
        if (g === undefined) continue;
        grads.delete(t);
        hold(g, -1);
        if (wanted(t)) {
          const kept = onGradient(t, g);
          if (kept) {
            stored.push(kept);
            untouchable.add(kept.storage);
          }
        }
        const node = t.node;
        if (node === null) {
          releaseIfFree(g);
          continue;
        }
        // The entry of node.op takes the attributes node.op recorded (the compiler cannot pair the two unions).
        const entry = gradientTable[node.op] as GradientFn | undefined;
        if (!entry) {
          throw new Error(`${fnName}: op '${node.op}' (output shape ${fmt(t.shape)}) has no gradient; add an entry to packages/autograd/src/gradients/`);
        }
        const needs = node.inputs.map((x) => x.requiresGrad);
        const inputGrads = tidy(() => profileGradient(node.op, t, () => entry(g, { inputs: node.inputs, output: t, attrs: node.attrs, needs })));
        if (inputGrads.length !== node.inputs.length) {
          throw new Error(`${fnName}: the gradient of '${node.op}' returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`);
        }
        const spent: Tensor[] = [g];
        node.inputs.forEach((x, k) => {
          let gx = inputGrads[k];
          if (gx === null || gx === undefined) return;
          spent.push(gx);
          if (!needs[k]) return;
          if (gx.ndim !== x.ndim || gx.shape.some((d, j) => d !== x.shape[j])) {
            throw new Error(`${fnName}: the gradient of '${node.op}' for input ${k} has shape ${fmt(gx.shape)}, expected ${fmt(x.shape)}`);
          }
          if (gx.dtype !== x.dtype) gx = cast(gx, x.dtype); // e.g. a float32 operand of a float64 result
          const prev = grads.get(x);
          const sum = prev === undefined ? gx : add(prev, gx); // accumulate across uses
          if (prev !== undefined) {
            hold(prev, -1);
            spent.push(prev);
          }
          grads.set(x, sum);
          hold(sum, 1);
        });
        for (const s of spent) releaseIfFree(s);
      }
      return stored;
    }),
  ));
}

/**
 * Accumulates d(root)/d(leaf) into `.grad` of every leaf that requires gradients (`.grad = .grad + g`, a new
 * tensor each time), and into `.grad` of intermediates marked with `retainGrad`. Call it once per loss; zero the
 * gradients (set `.grad = null`) between optimizer steps. `grad` is the gradient of some scalar with respect
 * to `root` (default: ones, which needs a one-element root).
 */
export function backward(root: Tensor, grad?: Tensor): void {
  propagate(
    'backward',
    root,
    grad,
    (t) => t.node === null || retained.has(t),
    (t, g) => {
      // A fresh copy owned by this tensor: g may be a view of, or the same tensor as, another tensor's gradient.
      t.grad = t.grad === null ? clone(g) : add(t.grad, g);
      return t.grad;
    },
  );
}

/**
 * Gradients of `root` with respect to `targets`, returned rather than stored: no `.grad` is touched.
 * A target the root does not depend on gets zeros.
 */
export function gradients(root: Tensor, targets: readonly Tensor[], grad?: Tensor): Tensor[] {
  const wanted = new Set(targets);
  const found = new Map<Tensor, Tensor>();
  propagate('gradients', root, grad, (t) => wanted.has(t), (t, g) => {
    found.set(t, g);
    return g;
  });
  return noGrad(() => targets.map((t) => {
    const g = found.get(t);
    return g === undefined ? zeros(t.shape, t.dtype) : clone(g);
  }));
}

setBackwardHook(backward);
