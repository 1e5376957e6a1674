/**
 * A small builder for an ONNX graph: nodes, float/int64 initializers and unique value names.
 * Initializer data stays mutable until `toProto` so batch-norm folding can rescale conv weights.
 */
import { AttributeType, DataType } from './schema.js';
import { FLOAT32_MIN_NORMAL } from '../denormals.js';

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

export interface GraphNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface ValueInfo {
  name: string;
  /** Dimensions: a number, or a string for a symbolic (dynamic) dimension. */
  shape: Array<number | string>;
}

/** Float initializers are written with denormals flushed to zero (see io/denormals.ts). */
function littleEndianBytes(data: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, Math.abs(v) < FLOAT32_MIN_NORMAL ? 0 : v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

function attributeProto(name: string, value: AttrValue): Record<string, unknown> {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`internal error: attribute ${name} must be an integer, got ${value}`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

function valueInfoProto(v: ValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();

  /** A value name not yet used in the graph, derived from `base`. */
  uniqueName(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'value';
    let name = clean;
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`;
    this.used.add(name);
    return name;
  }

  addInitializer(base: string, dims: number[], data: Float32Array | BigInt64Array): Initializer {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new Error(`internal error: initializer ${base} has ${data.length} values for dims [${dims}]`);
    const init: Initializer = { name: this.uniqueName(base), dims, data };
    this.initializers.push(init);
    return init;
  }

  /** Add a node with one output named after `outBase`; returns the node (its output is node.outputs[0]). */
  addNode(opType: string, inputs: string[], outBase: string, attrs: Record<string, AttrValue> = {}): GraphNode {
    const node: GraphNode = { opType, name: this.uniqueName(`${outBase}/${opType}`), inputs, outputs: [this.uniqueName(outBase)], attrs };
    this.nodes.push(node);
    return node;
  }

  toProto(name: string, inputs: ValueInfo[], outputs: ValueInfo[]): Record<string, unknown> {
    return {
      name,
      node: this.nodes.map((n) => ({
        opType: n.opType,
        name: n.name,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)),
      })),
      initializer: this.initializers.map((t) => ({
        name: t.name,
        dims: t.dims,
        dataType: t.data instanceof Float32Array ? DataType.FLOAT : DataType.INT64,
        rawData: littleEndianBytes(t.data),
      })),
      input: inputs.map(valueInfoProto),
      output: outputs.map(valueInfoProto),
    };
  }
}
