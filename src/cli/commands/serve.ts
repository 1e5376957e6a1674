import type { Command } from 'commander';
import { parseDetectorName } from '../../detect/types.js';
import { UserError } from '../../errors.js';
import { parseRuntimeOption } from '../../runtime/options.js';
import { parseTtaOption } from '../../runtime/tta.js';
import { parseIntOption } from '../options.js';
import { addModelOptions, detectorOption, runtimeOption, ttaOption } from '../pipeline-options.js';
import { DEFAULT_LIMITS, DEFAULT_SECURITY } from '../../server/limits.js';
import { LOG_LEVELS, settings } from '../../settings.js';

interface ServeOpts {
  host?: string;
  port?: string;
  emotionModel?: string;
  genderModel?: string;
  ageModel?: string;
  accurate?: boolean;
  tta?: string;
  detector: string;
  runtime?: string;
  emotion: boolean;
  gender: boolean;
  age: boolean;
  maxBodyMb: string;
  maxPixels: string;
  timeoutMs: string;
  concurrency?: string;
  workers: string;
  maxQueued: string;
  bodyTimeoutMs: string;
  rejectDelayMs: string;
  logLevel?: string;
  apiKey?: string;
  allowUnauthenticated: boolean;
  corsOrigin: string[];
  rateLimit: string;
}

/** Loopback addresses (and localhost): reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/** A CORS origin as browsers send it: scheme://host[:port], or '*'. */
export function parseCorsOrigin(v: string): string {
  if (v === '*') return v;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UserError(`--cors-origin must be an origin such as https://app.example.com (or *), got "${v}"`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== v.replace(/\/$/, '')) {
    throw new UserError(`--cors-origin must be an origin such as https://app.example.com (scheme, host and port only, or *), got "${v}"`);
  }
  return u.origin;
}

/** The server's limits; concurrency defaults to one job per worker, or in-thread to the cores (onnxruntime overlaps jobs). */
function serveLimits(o: ServeOpts, workers: number) {
  return {
    bodyLimit: parseIntOption(o.maxBodyMb, '--max-body-mb', 1, 1024) * 1024 * 1024,
    maxPixels: parseIntOption(o.maxPixels, '--max-pixels', 1),
    timeoutMs: parseIntOption(o.timeoutMs, '--timeout-ms', 1),
    concurrency: o.concurrency !== undefined ? parseIntOption(o.concurrency, '--concurrency', 1, 64) : workers > 0 ? workers : DEFAULT_LIMITS.concurrency,
    maxQueued: parseIntOption(o.maxQueued, '--max-queued', 0),
    bodyTimeoutMs: parseIntOption(o.bodyTimeoutMs, '--body-timeout-ms', 1),
    rejectDelayMs: parseIntOption(o.rejectDelayMs, '--reject-delay-ms', 0, 60_000),
  };
}

/** API key, CORS and rate limit; an address other machines reach needs a key unless explicitly allowed. */
function serveSecurity(o: ServeOpts, host: string) {
  const apiKey = o.apiKey ?? settings.apiKey();
  if (apiKey !== undefined && apiKey.trim().length < 16) throw new UserError('the API key (--api-key / FACECLS_API_KEY) must be at least 16 characters');
  if (apiKey === undefined && !isLoopbackHost(host) && !o.allowUnauthenticated) {
    throw new UserError(
      `refusing to listen on ${host} (reachable from other machines) without an API key: set --api-key / FACECLS_API_KEY, or pass --allow-unauthenticated`,
    );
  }
  return { apiKey: apiKey?.trim(), corsOrigins: o.corsOrigin, rateLimit: parseIntOption(o.rateLimit, '--rate-limit', 0) };
}

async function serve(o: ServeOpts, backend: string | undefined, version: string | undefined): Promise<void> {
  const logLevel = o.logLevel ?? settings.logLevel() ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UserError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const host = o.host ?? settings.host() ?? '127.0.0.1';
  const port = o.port !== undefined ? parseIntOption(o.port, '--port', 0, 65535) : (settings.port() ?? 3000);
  const detector = parseDetectorName(o.detector);
  const runtime = parseRuntimeOption(o.runtime, '--runtime');
  const workers = parseIntOption(o.workers, '--workers', 0, 64);
  const limits = serveLimits(o, workers);
  const security = serveSecurity(o, host);
  const { FacePipeline } = await import('../../server/face-pipeline.js');
  const { WorkerPoolPipeline } = await import('../../server/worker-pool.js');
  const { ensureWebBundle, startServer } = await import('../../server/start.js');
  const pipelineOptions = {
    emotionModel: o.emotionModel,
    genderModel: o.genderModel,
    ageModel: o.ageModel,
    variant: o.accurate ? ('accurate' as const) : ('fast' as const),
    tta: parseTtaOption(o.tta, '--tta'),
    detector,
    runtime,
    emotion: o.emotion,
    gender: o.gender,
    age: o.age,
    backend,
    maxPixels: limits.maxPixels,
  };
  const pipeline = workers > 0 ? await WorkerPoolPipeline.load(pipelineOptions, workers) : await FacePipeline.load(pipelineOptions);
  if (!(await ensureWebBundle()))
    process.stderr.write('facecls: warning: the web page bundle is missing and could not be built (npm run build); the API works\n');
  await startServer({ pipeline, host, port, limits, security, logLevel, version });
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('HTTP API (POST /v1/classify, /v1/annotate, /v1/saliency; GET /v1/models, /healthz, /openapi.json) and the live webcam page at /')
    .option('--host <addr>', 'address to listen on (default: env FACECLS_HOST, else 127.0.0.1)')
    .option('--port <n>', 'port; 0 = any free port (default: env FACECLS_PORT, else PORT, else 3000)');
  addModelOptions(cmd, {
    emotionModel: 'emotion model directory (default models/emotion)',
    genderModel: 'gender model directory (default models/gender)',
    ageModel: 'age model directory (default models/age)',
    accurate: 'serve the accurate models (models/<task>-accurate where shipped) in the API',
  })
    .addOption(ttaOption("classifier test-time augmentation in the API: flip or none (half the classifier time); default the model's"))
    .addOption(detectorOption('face detector of the API (the page always runs BlazeFace in the browser)'))
    .addOption(runtimeOption())
    .option('--max-body-mb <n>', 'largest request body in MiB', '20')
    .option('--max-pixels <n>', 'largest image in pixels (width x height)', '40000000')
    .option('--timeout-ms <n>', 'time limit per inference request, queueing included', '30000')
    .option('--workers <n>', 'run the pipeline in n worker threads (each loads the models once); 0 = in the server thread', '0')
    .option('--concurrency <n>', 'inference jobs running at once (default: number of cores, at most 4)')
    .option('--max-queued <n>', 'requests admitted beyond the running ones (uploading or waiting); beyond that 503 + Retry-After before the body is read', '64')
    .option(
      '--reject-delay-ms <n>',
      'answer a request refused for a full queue after this pause (at most its Retry-After; unread either way); 0 = at once',
      String(DEFAULT_LIMITS.rejectDelayMs),
    )
    .option('--body-timeout-ms <n>', 'answer 408 when an upload sends nothing for this long', String(DEFAULT_LIMITS.bodyTimeoutMs))
    .option(
      '--api-key <key>',
      'require this key on POST /v1/* (Authorization: Bearer <key> or X-API-Key); prefer env FACECLS_API_KEY (a command line is visible to other users)',
    )
    .option('--allow-unauthenticated', 'listen on a non-loopback address without an API key (refused otherwise)', false)
    .option(
      '--cors-origin <origin>',
      'allow browser pages of this origin to call the API (repeatable; * = any; none by default)',
      (v: string, acc: string[]) => [...acc, parseCorsOrigin(v)],
      [] as string[],
    )
    .option('--rate-limit <n>', 'requests per minute per client address on POST /v1/* (0 = no limit)', String(DEFAULT_SECURITY.rateLimit))
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default: env FACECLS_LOG_LEVEL, else info)`)
    .action((o: ServeOpts, c: Command) => serve(o, c.optsWithGlobals().backend as string | undefined, program.version()));
}
