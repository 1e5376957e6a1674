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
