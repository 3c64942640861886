/**
 * Tiny ONNX models built in memory for the `kernels` suite: a minimal protobuf writer and the handful of ONNX
 * messages one single-node graph needs (ModelProto, GraphProto, NodeProto, AttributeProto, ValueInfoProto).
 * Field numbers follow onnx/onnx.proto.
 */

/** Protobuf wire format: varints, length-delimited fields, fixed32 floats. */
class ProtoWriter {
  readonly bytes: number[] = [];

  private varint(n: number): void {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      this.bytes.push(b);
    } while (v !== 0n);
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    this.bytes.push(...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }

  string(field: number, s: string): this {
    return this.message(field, [...new TextEncoder().encode(s)]);
  }

  message(field: number, content: number[] | ProtoWriter): this {
    const b = content instanceof ProtoWriter ? content.bytes : content;
    this.key(field, 2);
    this.varint(b.length);
    this.bytes.push(...b);
    return this;
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

export type OnnxAttribute = { name: string; ints: number[] } | { name: string; int: number };

export interface OnnxGraph {
  op: string;
  inputs: { name: string; shape: number[] }[];
  output: { name: string; shape: number[] };
  attributes?: OnnxAttribute[];
}

function valueInfo(name: string, shape: number[]): ProtoWriter {
  const dims = new ProtoWriter();
  for (const d of shape) dims.message(1, new ProtoWriter().int(1, d)); // Dimension.dim_value
  const tensorType = new ProtoWriter().int(1, FLOAT).message(2, dims); // TypeProto.Tensor: elem_type, shape
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType)); // ValueInfoProto
}

function attribute(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().string(1, a.name);
  if ('ints' in a) {
    for (const v of a.ints) w.int(8, v);
    w.int(20, 7); // AttributeType.INTS
  } else {
    w.int(3, a.int);
    w.int(20, 2); // AttributeType.INT
  }
  return w;
}

/** The bytes of an ONNX model (IR version 7, opset 13) with one node. */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const node = new ProtoWriter();
  for (const i of g.inputs) node.string(1, i.name);
  node.string(2, g.output.name).string(3, 'node').string(4, g.op);
  for (const a of g.attributes ?? []) node.message(5, attribute(a));
  const graph = new ProtoWriter().message(1, node).string(2, 'graph');
  for (const i of g.inputs) graph.message(11, valueInfo(i.name, i.shape));
  graph.message(12, valueInfo(g.output.name, g.output.shape));
  const model = new ProtoWriter().int(1, 7).string(2, 'oclt-bench').message(7, graph).message(8, new ProtoWriter().string(1, '').int(2, 13));
  return new Uint8Array(model.bytes);
}
