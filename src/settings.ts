/**
 * The environment variables facecls reads: this module is the only reader of process.env (a test
 * holds every other src file to that). Each variable is read when asked for, so a value set while the
 * process runs (tests, a host program) takes effect; an empty value counts as unset; a value of the
 * wrong form is a UserError (reason 'invalid-setting') naming the variable and the value.
 */
import { UserError } from './errors.js';

export interface SettingInfo {
  name: string;
  /** What it sets, for the README's table. */
  help: string;
  /** Default when unset, in words. */
  default: string;
}

/** Every variable, in the order of the README's table. */
export const SETTINGS = [
  { name: 'FACECLS_BACKEND', help: 'tfjs compute backend: wasm or cpu (the reference); the `--backend` option wins', default: 'wasm' },
  { name: 'FACECLS_RUNTIME', help: 'classifier inference runtime: onnx or tfjs; the `--runtime` option wins', default: 'onnx' },
  { name: 'FACECLS_ORT_THREADS', help: 'onnxruntime intra-op threads per session, 1-256', default: '1' },
  { name: 'FACECLS_ORT_WORKERS', help: 'onnxruntime worker threads for batched classification, 0-64', default: 'cores - 1 (runtime groups); 0 (one runtime)' },
  { name: 'FACECLS_DETECTOR_ENGINE', help: 'BlazeFace engine: onnx or tfjs', default: 'onnx (tfjs when onnxruntime-node cannot load)' },
  { name: 'FACECLS_STOCK_BN', help: "1: training uses tfjs's own batch-normalisation kernels instead of the fused ones (0 or 1)", default: '0' },
  { name: 'FACECLS_SIMD_KERNELS', help: '0: training does not use the WebAssembly SIMD kernels (0 or 1)', default: '1' },
  { name: 'FACECLS_FFMPEG', help: 'ffmpeg command (video)', default: 'ffmpeg' },
  { name: 'FACECLS_FFPROBE', help: 'ffprobe command (video)', default: 'ffprobe' },
  { name: 'FACECLS_HOST', help: '`serve`: address to listen on; `--host` wins', default: '127.0.0.1' },
  { name: 'FACECLS_PORT', help: '`serve`: port, 0-65535 (0: any free port); `--port` wins', default: 'PORT, else 3000' },
  { name: 'PORT', help: '`serve`: port when FACECLS_PORT is unset (as hosting platforms set it)', default: '3000' },
  { name: 'FACECLS_LOG_LEVEL', help: '`serve`: log level: fatal, error, warn, info, debug, trace, silent; `--log-level` wins', default: 'info' },
  { name: 'FACECLS_API_KEY', help: '`serve`: API key required on POST /v1/* (at least 16 characters); `--api-key` wins', default: 'none' },
  { name: 'FACECLS_REDIS', help: '`batch`, `worker`: Redis URL (redis:// or rediss://); `--redis` wins', default: 'redis://127.0.0.1:6379' },
  { name: 'FACECLS_REDIS_SERVER', help: 'redis-server command for tests and benchmarks', default: 'redis-server' },
  { name: 'FACECLS_DATASETS', help: 'folder of the training and evaluation data sets', default: '../shared/datasets beside the project' },
] as const satisfies readonly SettingInfo[];

export type SettingName = (typeof SETTINGS)[number]['name'];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function invalid(name: SettingName, raw: string, expected: string): UserError {
  return new UserError(`environment variable ${name} must be ${expected}, got "${raw}"`, { reason: 'invalid-setting' });
}

/** The variable's value, or undefined when unset or blank. */
export function setting(name: SettingName): string | undefined {
  // In a page (the browser package) there is no environment: every setting is unset.
  const v = typeof process === 'undefined' ? undefined : process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

/** An integer variable in [min, max], or undefined when unset. */
export function intSetting(name: SettingName, min: number, max: number): number | undefined {
  const raw = setting(name);
  if (raw === undefined) return undefined;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(name, raw, `an integer in [${min}, ${max}]`);
  return n;
}

/** One of `choices` (trimmed, lower case), or undefined when unset. */
export function choiceSetting<T extends string>(name: SettingName, choices: readonly T[]): T | undefined {
  const raw = setting(name);
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(v)) throw invalid(name, raw, `one of ${choices.join(', ')}`);
  return v as T;
}

/** A 0/1 switch (also false/true), or `fallback` when unset. */
export function flagSetting(name: SettingName, fallback: boolean): boolean {
  const v = choiceSetting(name, ['0', '1', 'false', 'true']);
  return v === undefined ? fallback : v === '1' || v === 'true';
}

/** Typed accessors, one per variable (see SETTINGS). */
export const settings = {
  backend: () => choiceSetting('FACECLS_BACKEND', ['wasm', 'cpu'] as const),
  runtime: () => choiceSetting('FACECLS_RUNTIME', ['onnx', 'tfjs'] as const),
  ortThreads: () => intSetting('FACECLS_ORT_THREADS', 1, 256),
  ortWorkers: () => intSetting('FACECLS_ORT_WORKERS', 0, 64),
  detectorEngine: () => choiceSetting('FACECLS_DETECTOR_ENGINE', ['onnx', 'tfjs'] as const),
  stockBatchNorm: () => flagSetting('FACECLS_STOCK_BN', false),
  simdKernels: () => flagSetting('FACECLS_SIMD_KERNELS', true),
  ffmpeg: () => setting('FACECLS_FFMPEG') ?? 'ffmpeg',
  ffprobe: () => setting('FACECLS_FFPROBE') ?? 'ffprobe',
  host: () => setting('FACECLS_HOST'),
  port: () => intSetting('FACECLS_PORT', 0, 65535) ?? intSetting('PORT', 0, 65535),
  logLevel: () => choiceSetting('FACECLS_LOG_LEVEL', LOG_LEVELS),
  apiKey: () => setting('FACECLS_API_KEY'),
  redisUrl: () => setting('FACECLS_REDIS')?.trim(),
  redisServer: () => setting('FACECLS_REDIS_SERVER') ?? 'redis-server',
  datasetsDir: () => setting('FACECLS_DATASETS'),
};
