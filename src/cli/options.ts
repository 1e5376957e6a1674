import { UserError } from '../errors.js';

export function parseIntOption(value: string, name: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Infinity ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new UserError(`${name} must be ${range}, got "${value}"`);
  }
  return n;
}

export function parseFloatOption(value: string, name: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UserError(`${name} must be a number in [${min}, ${max}], got "${value}"`);
  return n;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte count: an integer with an optional binary unit (K, M, G; KiB, MiB, GiB; KB... are read as binary too). */
export function parseByteSize(value: string, name: string, min = 1): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  const n = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UserError(`${name} must be a byte count >= ${min} (e.g. 1048576, 512K, 256M, 1G), got "${value}"`);
  return n;
}
