/**
 * The ONNX protobuf schema as protobufjs message types (from the ONNX project's onnx.proto, compiled
 * to ./onnx-schema.generated.ts), plus the enum values the exporter uses.
 */
import protobuf from 'protobufjs';
import { ONNX_SCHEMA } from './onnx-schema.generated.js';

let root: protobuf.Root | undefined;

function schemaRoot(): protobuf.Root {
  root ??= protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace);
  return root;
}

export function onnxType(name: 'ModelProto' | 'GraphProto' | 'NodeProto' | 'TensorProto' | 'AttributeProto'): protobuf.Type {
  return schemaRoot().lookupType(`onnx.${name}`);
}

/** onnx.TensorProto.DataType */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** onnx.AttributeProto.AttributeType */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** IR version 8 (ONNX 1.10-1.12) is read by onnxruntime and by every onnx checker with opset <= 17. */
export const IR_VERSION = 8;
export const MIN_OPSET = 13;
export const MAX_OPSET = 17;

/** Serialise a plain ModelProto object (camelCase field names) after validating it against the schema. */
export function encodeModel(model: Record<string, unknown>): Uint8Array {
  const type = onnxType('ModelProto');
  const err = type.verify(model);
  if (err) throw new Error(`internal error: invalid ONNX ModelProto: ${err}`);
  return type.encode(type.fromObject(model)).finish();
}

export interface DecodedModel {
  irVersion: number;
  opsetImport: Array<{ domain?: string; version: number }>;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadataProps: Array<{ key: string; value: string }>;
  graph: {
    node: Array<{ opType: string; input: string[]; output: string[]; name?: string; attribute?: Array<Record<string, unknown>> }>;
    initializer: Array<{ name: string; dims: number[]; dataType: number; rawData?: Uint8Array }>;
    input: Array<{ name: string }>;
    output: Array<{ name: string }>;
  };
}

/** Parse ONNX bytes into a plain object (int64 as numbers). Throws on bytes that are not a ModelProto. */
export function decodeModel(bytes: Uint8Array): DecodedModel {
  const type = onnxType('ModelProto');
  const msg = type.decode(bytes);
  const obj = type.toObject(msg, { longs: Number, arrays: true, defaults: false }) as DecodedModel;
  obj.metadataProps ??= [];
  obj.opsetImport ??= [];
  return obj;
}
