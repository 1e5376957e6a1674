/**
 * Reader for MATLAB Level 5 MAT-files (the format of IMDB-WIKI's imdb.mat / wiki.mat, and what
 * scipy.io.savemat writes). Supports compressed elements, numeric and logical arrays, char arrays,
 * cell arrays and structs; sparse arrays and objects are rejected with a clear error. MAT v7.3 files
 * are HDF5 and are not read here.
 * Format: "MAT-File Format", The MathWorks, sections 1-4 (128-byte header, tagged data elements).
 */
import { inflateSync } from 'node:zlib';

export type MatNumeric = { type: 'numeric'; class: string; dims: number[]; data: Float64Array; imag?: Float64Array; logical?: boolean };
export type MatChar = { type: 'char'; dims: number[]; /** column-major characters joined; for a row vector, the string */ text: string };
export type MatCell = { type: 'cell'; dims: number[]; cells: MatValue[] };
export type MatStruct = { type: 'struct'; dims: number[]; fields: string[]; /** column-major elements */ elements: Array<Record<string, MatValue>> };
export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
};
const CLASS_NAMES: Record<number, string> = {
  1: 'cell',
  2: 'struct',
  3: 'object',
  4: 'char',
  5: 'sparse',
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};

export class MatFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatFileError';
  }
}

interface Element {
  type: number;
  data: Buffer;
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
  ) {}
  u32(at: number): number {
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  /** Next tagged element (handles the small-element format and 8-byte padding). */
  next(): Element {
    if (this.pos + 8 > this.buf.length) throw new MatFileError(`truncated data element at byte ${this.pos}`);
    const first = this.u32(this.pos);
    const small = first >>> 16;
    if (small !== 0) {
      const type = first & 0xffff;
      if (small > 4) throw new MatFileError(`invalid small data element at byte ${this.pos}`);
      const data = this.buf.subarray(this.pos + 4, this.pos + 4 + small);
      this.pos += 8;
      return { type, data };
    }
    const type = first;
    const n = this.u32(this.pos + 4);
    const start = this.pos + 8;
    if (start + n > this.buf.length) throw new MatFileError(`data element at byte ${this.pos} claims ${n} bytes, past the end of the file`);
    const data = this.buf.subarray(start, start + n);
    this.pos = type === MI.COMPRESSED ? start + n : start + Math.ceil(n / 8) * 8;
    return { type, data };
  }
}

function numbers(el: Element, le: boolean): Float64Array {
  const d = el.data;
  const size: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1 };
  const s = size[el.type];
  if (!s) throw new MatFileError(`unsupported numeric storage type ${el.type}`);
  const n = Math.floor(d.length / s);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * s;
    switch (el.type) {
      case MI.INT8:
        out[i] = d.readInt8(o);
        break;
      case MI.UINT8:
      case MI.UTF8:
        out[i] = d[o];
        break;
      case MI.INT16:
        out[i] = le ? d.readInt16LE(o) : d.readInt16BE(o);
        break;
      case MI.UINT16:
        out[i] = le ? d.readUInt16LE(o) : d.readUInt16BE(o);
        break;
      case MI.INT32:
        out[i] = le ? d.readInt32LE(o) : d.readInt32BE(o);
        break;
      case MI.UINT32:
        out[i] = le ? d.readUInt32LE(o) : d.readUInt32BE(o);
        break;
      case MI.SINGLE:
        out[i] = le ? d.readFloatLE(o) : d.readFloatBE(o);
        break;
      case MI.DOUBLE:
        out[i] = le ? d.readDoubleLE(o) : d.readDoubleBE(o);
        break;
      case MI.INT64:
        out[i] = Number(le ? d.readBigInt64LE(o) : d.readBigInt64BE(o));
        break;
      case MI.UINT64:
        out[i] = Number(le ? d.readBigUInt64LE(o) : d.readBigUInt64BE(o));
        break;
    }
  }
  return out;
}

function text(el: Element, le: boolean): string {
  if (el.type === MI.UTF8 || el.type === MI.UINT8 || el.type === MI.INT8) return el.data.toString('utf8');
  if (el.type === MI.UTF16 || el.type === MI.UINT16) {
    const codes = numbers({ type: MI.UINT16, data: el.data }, le);
    return String.fromCharCode(...codes);
  }
  if (el.type === MI.UTF32 || el.type === MI.UINT32 || el.type === MI.INT32) return String.fromCodePoint(...numbers({ type: MI.UINT32, data: el.data }, le));
  throw new MatFileError(`unsupported character storage type ${el.type}`);
}

function parseMatrix(data: Buffer, le: boolean): { name: string; value: MatValue } {
  const empty: MatValue = { type: 'numeric', class: 'double', dims: [0, 0], data: new Float64Array(0) };
  if (data.length === 0) return { name: '', value: empty };
  const r = new Reader(data, le);
  const flags = r.next();
  const f0 = le ? flags.data.readUInt32LE(0) : flags.data.readUInt32BE(0);
  const cls = f0 & 0xff;
  const complex = (f0 & 0x800) !== 0;
  const logical = (f0 & 0x200) !== 0;
  const dims = Array.from(numbers(r.next(), le));
  const name = text(r.next(), le);
  const count = dims.reduce((a, b) => a * b, 1);
  const className = CLASS_NAMES[cls];
  if (!className) throw new MatFileError(`variable "${name}": unknown array class ${cls}`);
  if (className === 'cell') {
    const cells: MatValue[] = [];
    for (let i = 0; i < count; i++) {
      const el = r.next();
      if (el.type !== MI.MATRIX) throw new MatFileError(`variable "${name}": cell element ${i} is not a matrix`);
      cells.push(parseMatrix(el.data, le).value);
    }
    return { name, value: { type: 'cell', dims, cells } };
  }
  if (className === 'struct') {
    const len = numbers(r.next(), le)[0];
    const namesBuf = r.next().data;
    const fields: string[] = [];
    for (let o = 0; o + len <= namesBuf.length; o += len) {
      const raw = namesBuf.subarray(o, o + len);
      const z = raw.indexOf(0);
      fields.push(raw.subarray(0, z < 0 ? raw.length : z).toString('utf8'));
    }
    const elements: Array<Record<string, MatValue>> = [];
    for (let i = 0; i < count; i++) {
      const rec: Record<string, MatValue> = {};
      for (const f of fields) {
        const el = r.next();
        if (el.type !== MI.MATRIX) throw new MatFileError(`variable "${name}": struct field "${f}" is not a matrix`);
        rec[f] = parseMatrix(el.data, le).value;
      }
      elements.push(rec);
    }
    return { name, value: { type: 'struct', dims, fields, elements } };
  }
  if (className === 'char') {
    if (count === 0) return { name, value: { type: 'char', dims, text: '' } };
    return { name, value: { type: 'char', dims, text: text(r.next(), le) } };
  }
  if (className === 'object' || className === 'sparse') throw new MatFileError(`variable "${name}": ${className} arrays are not supported`);
  const real = count === 0 && r.done() ? new Float64Array(0) : numbers(r.next(), le);
  const value: MatNumeric = { type: 'numeric', class: className, dims, data: real };
  if (complex) value.imag = numbers(r.next(), le);
  if (logical) value.logical = true;
  return { name, value };
}

/** Read every variable of a MAT v5 file. */
export function readMat(buf: Buffer): Record<string, MatValue> {
  if (buf.length < 128) throw new MatFileError('too short for a MAT-file (no 128-byte header)');
  const head = buf.subarray(0, 116).toString('latin1');
  if (head.startsWith('MATLAB 7.3') || buf.subarray(512, 520).toString('latin1') === '\x89HDF\r\n\x1a\n') {
    throw new MatFileError('this is a MAT v7.3 (HDF5) file; save it with -v7 or read it with an HDF5 reader');
  }
  const endian = buf.subarray(126, 128).toString('latin1');
  if (endian !== 'IM' && endian !== 'MI') throw new MatFileError('not a MAT v5 file (no endian indicator in the header)');
  const le = endian === 'IM';
  const r = new Reader(buf.subarray(128), le);
  const vars: Record<string, MatValue> = {};
  while (!r.done()) {
    let el = r.next();
    if (el.type === MI.COMPRESSED) {
      let raw: Buffer;
      try {
        raw = inflateSync(el.data);
      } catch (err) {
        throw new MatFileError(`corrupt compressed element: ${(err as Error).message}`);
      }
      el = new Reader(raw, le).next();
    }
    if (el.type !== MI.MATRIX) continue;
    const { name, value } = parseMatrix(el.data, le);
    vars[name] = value;
  }
  return vars;
}

/** Element i of a cell of char arrays as a string. */
export function cellString(cell: MatValue, i: number): string | undefined {
  if (cell.type !== 'cell') return undefined;
  const c = cell.cells[i];
  return c?.type === 'char' ? c.text : undefined;
}

export function numericData(v: MatValue | undefined): Float64Array | undefined {
  return v?.type === 'numeric' ? v.data : undefined;
}
