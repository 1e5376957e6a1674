/**
 * Generators of hostile inputs (fast-check arbitraries) shared by the fuzz tests and `bench/fuzz.ts`:
 * mutated JPEG / PNG / GIF / WebP bytes, random multipart bodies, query strings and content types for
 * the HTTP API, and the check every answer must pass (no 5xx; a JSON error naming the problem).
 */
import fc from 'fast-check';
import sharp from 'sharp';

/** Small valid images of every format the fuzzer mutates (made by sharp, nothing stored). */
export async function seedImages(): Promise<Record<'jpeg' | 'png' | 'gif' | 'webp', Buffer>> {
  const w = 40;
  const h = 32;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const inside = ((x - w / 2) / (w / 3)) ** 2 + ((y - h / 2) / (h / 2.5)) ** 2 < 1;
      data[i] = inside ? 210 : x * 6;
      data[i + 1] = inside ? 170 : y * 7;
      data[i + 2] = inside ? 140 : 80;
    }
  }
  const img = () => sharp(data, { raw: { width: w, height: h, channels: 3 } });
  return {
    jpeg: await img().jpeg({ quality: 80 }).toBuffer(),
    png: await img().png().toBuffer(),
    gif: await img().gif().toBuffer(),
    webp: await img().webp({ quality: 80 }).toBuffer(),
  };
}

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; len: number };

/** A position: in the header (first 64 bytes, where the sizes and chunk lengths live) or anywhere. */
const position = fc.oneof(
  fc.integer({ min: 0, max: 63 }).map((i) => ({ header: i })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((f) => ({ frac: f })),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 512 }) }),
);

function applyMutation(buf: Buffer, m: Mutation, where: { header?: number; frac?: number }): Buffer {
  if (buf.length === 0) return buf;
  const at = where.header !== undefined ? Math.min(where.header, buf.length - 1) : Math.min(buf.length - 1, Math.floor((where.frac ?? 0) * buf.length));
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(buf);
      out[at] ^= m.xor;
      return out;
    }
    case 'truncate':
      return buf.subarray(0, at);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
    case 'overwrite': {
      const out = Buffer.from(buf);
      out.set(m.bytes.subarray(0, out.length - at), at);
      return out;
    }
    case 'duplicate':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at, at + m.len), buf.subarray(at)]);
  }
}

/** A seed image with 0-6 mutations (0 keeps some valid images in the mix), or random bytes. */
export function mutatedImage(seeds: Record<string, Buffer>): fc.Arbitrary<Buffer> {
  const mutated = fc
    .record({ seed: fc.constantFrom(...Object.values(seeds)), muts: fc.array(fc.tuple(mutation, position), { maxLength: 6 }) })
    .map(({ seed, muts }) => muts.reduce((b, [m, p]) => applyMutation(b, m, p), seed));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...Object.values(seeds)) },
    { weight: 8, arbitrary: mutated },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)) },
  );
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$&^_.+-]{0,12}$/);
/** Header-safe text (printable ASCII), as an HTTP client can send it. */
const headerText = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);

export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('image/jpeg', 'image/png', 'image/gif', 'image/webp', 'application/octet-stream', 'image/jpeg; charset=utf-8', 'IMAGE/PNG'),
  },
  { weight: 2, arbitrary: fc.constantFrom('image/*', 'text/plain', 'application/json', 'multipart/form-data', 'multipart/form-data; boundary=', undefined) },
  { weight: 1, arbitrary: fc.tuple(token, token).map(([a, b]) => `${a}/${b}`) },
  { weight: 1, arbitrary: headerText },
);

/** Query strings: the known parameters with junk values, unknown ones, broken percent-encoding. */
export const queryString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', 'crops=true', 'minFaceSize=20', 'task=gender&method=gradcam', 'method=guided-gradcam&crops=1') },
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom('minFaceSize', 'crops', 'task', 'method', 'class', 'minFaceSize[]', '__proto__', 'constructor'), token),
        fc.oneof(
          fc.constantFrom(
            '1',
            '0',
            '-1',
            '1e9',
            'NaN',
            'true',
            'false',
            'emotion',
            'gender',
            'guided',
            'gradcam',
            'guided-gradcam',
            'happy',
            'woman',
            '',
            'x'.repeat(200),
          ),
          fc.integer().map(String),
          headerText,
        ),
      ),
      { maxLength: 5 },
    )
    .map((pairs) => new URLSearchParams(pairs).toString()),
  fc.stringMatching(/^[A-Za-z0-9%&=+;[\]._~-]{0,40}$/),
);

export interface FuzzRequest {
  method: 'POST' | 'GET' | 'PUT' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** A multipart/form-data body of random parts (files, fields, odd headers), possibly cut short. */
function multipartBody(seeds: Record<string, Buffer>): fc.Arbitrary<{ boundary: string; body: Buffer }> {
  const part = fc.record({
    name: fc.oneof(fc.constantFrom('image', 'file', 'note', '__proto__', ''), token),
    filename: fc.option(fc.oneof(fc.constantFrom('a.jpg', 'x.png', '../../etc/passwd', ''), token), { nil: undefined }),
    type: fc.option(
      contentType.map((t) => t ?? ''),
      { nil: undefined },
    ),
    data: fc.oneof(
      mutatedImage(seeds),
      headerText.map((s) => Buffer.from(s)),
    ),
  });
  return fc
    .record({
      boundary: fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,40}$/),
      parts: fc.array(part, { maxLength: 14 }),
      cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      closing: fc.boolean(),
    })
    .map(({ boundary, parts, cut, closing }) => {
      const chunks: Buffer[] = [];
      for (const p of parts) {
        let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
        if (p.filename !== undefined) head += `; filename="${p.filename}"`;
        head += '\r\n';
        if (p.type !== undefined) head += `Content-Type: ${p.type}\r\n`;
        chunks.push(Buffer.from(head + '\r\n'), p.data, Buffer.from('\r\n'));
      }
      if (closing) chunks.push(Buffer.from(`--${boundary}--\r\n`));
      let body = Buffer.concat(chunks);
      if (cut !== undefined) body = body.subarray(0, Math.floor(cut * body.length));
      return { boundary, body };
    });
}

/** One request to the image endpoints (mostly), with a hostile body, content type and query. */
export function fuzzRequest(seeds: Record<string, Buffer>): fc.Arbitrary<FuzzRequest> {
  const route = fc.constantFrom('/v1/classify', '/v1/annotate', '/v1/saliency');
  const raw = fc.record({ route, query: queryString, type: contentType, body: mutatedImage(seeds) }).map(({ route, query, type, body }): FuzzRequest => ({
    method: 'POST',
    path: query ? `${route}?${query}` : route,
    headers: type === undefined ? {} : { 'content-type': type },
    body,
  }));
  const form = fc
    .record({ route, query: queryString, mp: multipartBody(seeds), typeParams: fc.constantFrom('', '; charset=utf-8') })
    .map(({ route, query, mp, typeParams }): FuzzRequest => ({
      method: 'POST',
      path: query ? `${route}?${query}` : route,
      headers: { 'content-type': `multipart/form-data; boundary=${mp.boundary}${typeParams}` },
      body: mp.body,
    }));
  const other = fc
    .record({
      method: fc.constantFrom('GET' as const, 'PUT' as const, 'DELETE' as const),
      route: fc.oneof(route, fc.constantFrom('/healthz', '/v1/models', '/models/emotion/model.json', '/wasm/x.wasm', '/app/../../package.json')),
      query: queryString,
    })
    .map(({ method, route, query }): FuzzRequest => ({ method, path: query ? `${route}?${query}` : route, headers: {} }));
  return fc.oneof({ weight: 6, arbitrary: raw }, { weight: 3, arbitrary: form }, { weight: 1, arbitrary: other });
}

/** What an answer must be: below 500; an error is JSON {error, message, statusCode}; a 200 is JSON or PNG. Returns the problem, or undefined. */
export function checkAnswer(req: FuzzRequest, status: number, type: string, body: Buffer): string | undefined {
  if (status >= 500) return `${status} for ${req.method} ${req.path}: ${body.toString('utf8', 0, 300)}`;
  if (status >= 400) {
    if (!/^application\/json/.test(type)) return `${status} is not JSON (${type}) for ${req.method} ${req.path}`;
    let e: { error?: unknown; message?: unknown; statusCode?: unknown };
    try {
      e = JSON.parse(body.toString('utf8')) as typeof e;
    } catch {
      return `${status} body is not JSON for ${req.method} ${req.path}`;
    }
    if (typeof e.error !== 'string' || typeof e.message !== 'string' || e.statusCode !== status)
      return `${status} error body lacks error/message/statusCode: ${body.toString('utf8', 0, 200)}`;
    return undefined;
  }
  if (req.method === 'POST' && status === 200) {
    if (req.path.startsWith('/v1/classify')) {
      const r = JSON.parse(body.toString('utf8')) as { faces?: unknown };
      if (!Array.isArray(r.faces)) return 'classify 200 without faces';
    } else if (body.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') return `${req.path} 200 is not a PNG`;
  }
  return undefined;
}

/** Send one request and read the whole answer (fetch; a timeout counts as a hang). */
export async function send(base: string, req: FuzzRequest, timeoutMs: number): Promise<{ status: number; type: string; body: Buffer }> {
  const res = await fetch(base + req.path, {
    method: req.method,
    headers: req.headers,
    body: req.body && req.method !== 'GET' ? new Uint8Array(req.body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
}
