/**
 * conv2d and its two gradients on the device, as direct loops: one thread per output element of each kernel
 * (y for the forward pass, dx for the input gradient, dw for the weight gradient), float32 accumulation. Inputs
 * are read through their strides and offsets. Geometry (stride, padding, dilation, groups) is baked in.
 */
import type { ConvGeometry } from '../../../shape.js';
import type { Tensor } from '../../../tensor.js';
import { address, divmod, kernelSource, Names, unravel } from '../codegen.js';
import { deviceCanRun, type DeviceKernel, type DeviceKernelTable } from './device.js';

/** Address of element (i0, i1, i2, i3) of a 4-d tensor. */
function at(t: Tensor, idx: readonly string[]): string {
  return address(t.offset, idx, t.strides);
}

/** Statements giving `group` and the index within the group of channel expression `ch` (groups of `size`). */
function splitGroup(names: Names, g: ConvGeometry, ch: string, size: number): { code: string[]; group: string; within: string } {
  if (g.groups === 1) return { code: [], group: '0', within: ch };
  const d = divmod(names, ch, size);
  return { code: d.code, group: d.q, within: d.m };
}

/**
 * Statements that find the output position `out` that input position `pos` receives from kernel tap `tap`
 * along one axis: pos = out * stride - pad + tap * dil. Opens `if` blocks the caller closes (count returned).
 */
function outputFor(names: Names, pos: string, tap: string, stride: number, pad: number, dil: number, size: number, out: string): { code: string[]; opened: number } {
  const t = names.fresh('t');
  const code = [`var ${t} = ${pos} + ${pad} - ${tap} * ${dil};`, `if (${t} >= 0) {`];
  if (stride === 1) return { code: [...code, `var ${out} = ${t};`, `if (${out} < ${size}) {`], opened: 2 };
  const d = divmod(names, t, stride);
  return { code: [...code, ...d.code, `var ${out} = ${d.q};`, `if (${d.m} == 0) {`, `if (${out} < ${size}) {`], opened: 3 };
}

const conv2d: DeviceKernel<'conv2d'> = (dev, [x, w], { geo: g, dtype }) => {
  const shape = [g.n, g.o, g.oh, g.ow];
  if (dtype !== 'float32' || !deviceCanRun(g.n * g.o * g.oh * g.ow, x!, w!)) return null;
  const names = new Names();
  const u = unravel(names, 'this.thread.x', shape);
  const [n, o, y, xx] = u.idx as [string, string, string, string];
  const cg = g.c / g.groups;
  const grp = splitGroup(names, g, o, g.o / g.groups);
  const body = [
    ...u.code,
    ...grp.code,
    'var acc = 0.0;',
    `for (var ci = 0; ci < ${cg}; ci++) {`,
    `  var c = ${grp.group} * ${cg} + ci;`,
    `  for (var i = 0; i < ${g.kh}; i++) {`,
    `    var iy = ${y} * ${g.sh} - ${g.ph} + i * ${g.dh};`,
    `    if (iy >= 0) { if (iy < ${g.h}) {`,
    `      for (var j = 0; j < ${g.kw}; j++) {`,
    `        var ix = ${xx} * ${g.sw} - ${g.pw} + j * ${g.dw};`,
    `        if (ix >= 0) { if (ix < ${g.w}) {`,
    `          acc = acc + a[${at(x!, [n, 'c', 'iy', 'ix'])}] * b[${at(w!, [o, 'ci', 'i', 'j'])}];`,
    '        } }',
    '      }',
    '    } }',
    '  }',
    '}',
    'return acc;',
  ];
  return dev.run(kernelSource(['a', 'b'], body), shape, [x!, w!]);
};

const conv2dBackwardInput: DeviceKernel<'conv2dBackwardInput'> = (dev, [dy, w], { geo: g, dtype }) => {
  const shape = [g.n, g.c, g.h, g.w];
  if (dtype !== 'float32' || !deviceCanRun(g.n * g.c * g.h * g.w, dy!, w!)) return null;
  const names = new Names();
  const u = unravel(names, 'this.thread.x', shape);
  const [n, c, iy, ix] = u.idx as [string, string, string, string];
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const grp = splitGroup(names, g, c, cg);
  const oy = outputFor(names, iy, 'i', g.sh, g.ph, g.dh, g.oh, 'y');
  const ox = outputFor(names, ix, 'j', g.sw, g.pw, g.dw, g.ow, 'xo');
  const body = [
    ...u.code,
    ...grp.code,
    'var acc = 0.0;',
    `for (var oo = 0; oo < ${og}; oo++) {`,
    `  var o = ${grp.group} * ${og} + oo;`,
    `  for (var i = 0; i < ${g.kh}; i++) {`,
    ...oy.code,
    `    for (var j = 0; j < ${g.kw}; j++) {`,
    ...ox.code,
    `      acc = acc + a[${at(dy!, [n, 'o', 'y', 'xo'])}] * b[${at(w!, ['o', grp.within, 'i', 'j'])}];`,
    '}'.repeat(ox.opened),
    '    }',
    '}'.repeat(oy.opened),
    '  }',
    '}',
    'return acc;',
  ];
  return dev.run(kernelSource(['a', 'b'], body), shape, [dy!, w!]);
};

const conv2dBackwardWeight: DeviceKernel<'conv2dBackwardWeight'> = (dev, [x, dy], { geo: g, dtype }) => {
  const cg = g.c / g.groups;
  const shape = [g.o, cg, g.kh, g.kw];
  if (dtype !== 'float32' || !deviceCanRun(g.o * cg * g.kh * g.kw, x!, dy!)) return null;
  const names = new Names();
  const u = unravel(names, 'this.thread.x', shape);
  const [o, ci, i, j] = u.idx as [string, string, string, string];
  const grp = splitGroup(names, g, o, g.o / g.groups);
  const body = [
    ...u.code,
    ...grp.code,
    `var c = ${grp.group} * ${cg} + ${ci};`,
    'var acc = 0.0;',
    `for (var n = 0; n < ${g.n}; n++) {`,
    `  for (var y = 0; y < ${g.oh}; y++) {`,
    `    var iy = y * ${g.sh} - ${g.ph} + ${i} * ${g.dh};`,
    `    if (iy >= 0) { if (iy < ${g.h}) {`,
    `      for (var xo = 0; xo < ${g.ow}; xo++) {`,
    `        var ix = xo * ${g.sw} - ${g.pw} + ${j} * ${g.dw};`,
    `        if (ix >= 0) { if (ix < ${g.w}) {`,
    `          acc = acc + a[${at(x!, ['n', 'c', 'iy', 'ix'])}] * b[${at(dy!, ['n', o, 'y', 'xo'])}];`,
    '        } }',
    '      }',
    '    } }',
    '  }',
    '}',
    'return acc;',
  ];
  return dev.run(kernelSource(['a', 'b'], body), shape, [x!, dy!]);
};

export const convDeviceKernels = { conv2d, conv2dBackwardInput, conv2dBackwardWeight } satisfies DeviceKernelTable;
