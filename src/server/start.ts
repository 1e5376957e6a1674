/**
 * Start the service: listen, log where, and shut down gracefully on SIGINT/SIGTERM (stop accepting,
 * finish in-flight requests, release the models). Resolves once the server has stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../data/paths.js';
import { buildServer, type FaceclsServer, type ServerLimits, type ServerSecurity } from './app.js';
import type { ServerPipeline } from './pipeline.js';
import { webBundleDir } from './static-files.js';

export interface StartOptions {
  pipeline: ServerPipeline;
  host: string;
  port: number;
  limits?: Partial<ServerLimits>;
  security?: Partial<ServerSecurity>;
  logLevel?: string;
  version?: string;
  /** Called once listening, with the base URL. */
  onListening?: (url: string, server: FaceclsServer) => void;
}

/** Build the web page bundle if it is missing (a fresh checkout where only tsc ran). */
export async function ensureWebBundle(): Promise<boolean> {
  if (fs.existsSync(path.join(webBundleDir(), 'index.html'))) return true;
  const script = path.join(projectRoot(), 'web', 'build.mjs');
  if (!fs.existsSync(script)) return false;
  try {
    const mod = (await import(pathToFileURL(script).href)) as { buildWeb: () => Promise<void> };
    await mod.buildWeb();
    return true;
  } catch {
    return false; // esbuild absent (production install without devDependencies): the API still works.
  }
}

export async function startServer(opts: StartOptions): Promise<void> {
  const server = await buildServer({
    pipeline: opts.pipeline,
    limits: opts.limits,
    security: opts.security,
    version: opts.version,
    logger: { level: opts.logLevel ?? 'info' },
  });
  const log = server.app.log;
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, 'shutting down: finishing in-flight requests');
      const force = setTimeout(() => {
        log.error('shutdown took too long; exiting');
        process.exit(1);
      }, server.limits.timeoutMs + 10_000);
      force.unref();
      await server.close();
      await opts.pipeline.dispose();
      log.info('stopped');
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => void stop(signal).then(resolve);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    await server.app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await opts.pipeline.dispose();
    const code = (err as NodeJS.ErrnoException).code;
    const { UserError } = await import('../errors.js');
    if (code === 'EADDRINUSE') throw new UserError(`cannot listen on ${opts.host}:${opts.port}: the port is in use`, { reason: 'address-in-use' });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`cannot listen on ${opts.host}: no such local address`);
    if (code === 'EACCES') throw new UserError(`cannot listen on ${opts.host}:${opts.port}: permission denied`);
    throw err;
  }
  const addr = server.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  log.info(
    {
      url,
      detector: opts.pipeline.detectorName,
      limits: server.limits,
      apiKey: server.security.apiKey !== undefined,
      cors: server.security.corsOrigins,
      rateLimitPerMinute: server.security.rateLimit,
    },
    `facecls serving on ${url}`,
  );
  opts.onListening?.(url, server);
  await done;
}
