/**
 * JSON schemas of the HTTP API: fastify validates requests and serialises responses with them, and
 * the OpenAPI document at /openapi.json is generated from the same objects.
 */
import { CLASSIFIER_TASKS } from '../core/types.js';
import { KEYPOINT_NAMES } from '../detect/types.js';
import { EMOTION_LABELS, GENDER_LABELS } from '../io/model-store.js';
import type { ServerLimits } from './limits.js';
import { SALIENCY_METHODS } from './pipeline.js';

const scores = (labels: readonly string[]) => ({
  type: 'object',
  description: 'probability of every class (sums to 1)',
  additionalProperties: { type: 'number' },
  example: Object.fromEntries(labels.map((l, i) => [l, i === 0 ? 0.9 : Number((0.1 / (labels.length - 1)).toFixed(3))])),
});

const classScores = (labels: readonly string[]) => ({
  type: 'object',
  required: ['label', 'scores'],
  properties: { label: { type: 'string', example: labels[0] }, scores: scores(labels) },
});

const point = { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } as const;

export const keypointsSchema = {
  type: 'object',
  description:
    "BlazeFace's six keypoints [x, y] in pixels of the image, named from the person's point of view (rightEye is on the image's left in a frontal face); absent for detectors without keypoints",
  required: [...KEYPOINT_NAMES],
  properties: Object.fromEntries(KEYPOINT_NAMES.map((n) => [n, point])),
} as const;

/** An age estimate: src/core/types.ts AgeEstimate. */
export const ageSchema = {
  type: 'object',
  required: ['years', 'range'],
  description:
    "estimated apparent age: years = expectation of the age model's distribution over its anchor ages (0.1 year steps); range = [lo, hi] whole years from the model card's 90% validation residual quantiles",
  properties: {
    years: { type: 'number', example: 31.4 },
    range: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2, example: [24, 40] },
  },
} as const;

export const faceSchema = {
  type: 'object',
  required: ['box', 'score'],
  description: 'emotion, gender and age are absent only when that task is disabled on the server (age also with ?age=false)',
  properties: {
    box: { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4, description: '[x, y, width, height] in pixels of the (EXIF-rotated) image' },
    score: { type: 'number', description: 'detector confidence' },
    keypoints: keypointsSchema,
    emotion: classScores(EMOTION_LABELS),
    gender: classScores(GENDER_LABELS),
    age: ageSchema,
  },
} as const;

/** The answer about one image: its size and what was found on each face (`face`). */
const imageResultSchema = <Face extends object>(face: Face) =>
  ({
    type: 'object',
    required: ['width', 'height', 'faces'],
    properties: {
      width: { type: 'integer' },
      height: { type: 'integer' },
      faces: { type: 'array', items: face },
    },
  }) as const;

export const classifySchema = imageResultSchema(faceSchema);

export const detectSchema = imageResultSchema({
  type: 'object',
  required: ['box', 'score'],
  properties: { box: faceSchema.properties.box, score: faceSchema.properties.score, keypoints: keypointsSchema },
} as const);

export const errorSchema = {
  type: 'object',
  required: ['error', 'message', 'statusCode'],
  properties: {
    error: { type: 'string', description: 'stable machine-readable code, e.g. payload_too_large' },
    message: { type: 'string', description: 'what was wrong, naming the offending input or limit' },
    statusCode: { type: 'integer' },
  },
} as const;

export const imageQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    minFaceSize: { type: 'integer', minimum: 1, maximum: 10000, description: 'smallest face side in pixels to report' },
    crops: { type: 'boolean', description: 'the image is already a face crop: skip detection', default: false },
    age: { type: 'boolean', description: 'false: no age estimate (the age model does not run), as the CLI --no-age', default: true },
  },
} as const;

export const saliencyQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...imageQuerySchema.properties,
    task: {
      type: 'string',
      enum: [...CLASSIFIER_TASKS],
      default: 'emotion',
      description: 'model to explain; age: what drives the age estimate (the expectation over the anchor ages), unless class names an anchor',
    },
    method: { type: 'string', enum: [...SALIENCY_METHODS], default: 'guided' },
    class: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'class to explain (age: an anchor age such as 44); default the predicted class (age: the estimate)',
    },
  },
} as const;

export const modelsSchema = {
  type: 'object',
  required: ['detector', 'models'],
  properties: {
    detector: { type: 'string' },
    models: {
      type: 'array',
      items: {
        type: 'object',
        required: ['role', 'format', 'url'],
        properties: {
          role: { type: 'string', description: 'emotion, gender, age or detector' },
          format: { type: 'string' },
          url: { type: 'string', description: 'model.json for tf.loadLayersModel / tf.loadGraphModel' },
          meta: { type: 'object', additionalProperties: true },
          info: { type: 'object', additionalProperties: true },
          card: { type: 'string' },
        },
      },
    },
    saliency: { type: 'boolean', description: 'whether POST /v1/saliency is available' },
  },
} as const;

export const healthSchema = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok', 'shutting-down'] },
    uptimeSeconds: { type: 'number' },
    backend: { type: 'string' },
    detector: { type: 'string' },
    queue: {
      type: 'object',
      properties: {
        active: { type: 'integer' },
        queued: { type: 'integer' },
        completed: { type: 'integer' },
        rejected: { type: 'integer' },
        timedOut: { type: 'integer' },
      },
    },
    memory: {
      type: 'object',
      description: 'process rss; heap and tfjs tensors of the server thread plus its pipeline workers',
      properties: { rss: { type: 'integer' }, heapUsed: { type: 'integer' }, tensors: { type: 'integer' }, tensorBytes: { type: 'integer' } },
    },
  },
} as const;

/** Limits the server enforces, shown in the OpenAPI description. */
export type LimitsDoc = Pick<ServerLimits, 'bodyLimit' | 'maxPixels' | 'timeoutMs' | 'concurrency' | 'maxQueued' | 'bodyTimeoutMs'>;

const imageBody = {
  required: true,
  description:
    'an image (JPEG, PNG, WebP, GIF, TIFF, AVIF): the raw bytes with an image/* or application/octet-stream content type, or a multipart/form-data upload with one file field',
  content: {
    'image/*': { schema: { type: 'string', format: 'binary' } },
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': { schema: { type: 'object', properties: { image: { type: 'string', format: 'binary' } } } },
  },
};

function queryParams(schema: { properties: Record<string, object> }): object[] {
  return Object.entries(schema.properties).map(([name, s]) => ({ name, in: 'query', required: false, schema: s }));
}

const errors = (codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description: {
          400: 'bad request: bad_request (malformed HTTP), empty_body, corrupt_image, invalid_request (query parameter), missing_file, multiple_files (a second file in a multipart form), malformed_multipart, body_aborted',
          401: 'unauthorized: the server requires an API key (Authorization: Bearer <key> or X-API-Key) and none or a wrong one was sent',
          403: 'cross_origin_forbidden: sent by a web page of another origin that is not allowed (CORS)',
          404: 'not found',
          408: 'request_timeout: the upload stalled (no body bytes for the body time limit); the connection is closed',
          413: 'payload_too_large (body over the byte limit), image_too_large (over the pixel limit), too_many_fields (more than 10 multipart fields), too_many_parts (more than 12)',
          415: 'unsupported_media_type (not image/*, application/octet-stream or multipart/form-data; parameters such as charset are ignored), unsupported_image (bytes that are not an image)',
          429: 'rate_limited: too many requests from this client in the window; retry after the Retry-After header (seconds)',
          501: 'not available in this build',
          503: 'overloaded (the queue is full: refused before the body is read) or over the time limit, or shutting_down: retry after the Retry-After header (seconds)',
        }[c],
        content: { 'application/json': { schema: errorSchema } },
      },
    ]),
  );

export interface SecurityDoc {
  apiKey: boolean;
  rateLimit: number;
  rateWindowMs: number;
}

/** The document's description: the limits the server enforces, and its key and rate limit. */
function apiDescription(limits: LimitsDoc, security: SecurityDoc): string {
  const admitted = (limits.concurrency + limits.maxQueued) * limits.bodyLimit;
  const pixels = limits.concurrency * limits.maxPixels * 4;
  return (
    `Face detection with emotion (7 classes) and gender classification and age estimation. Limits: body ${limits.bodyLimit} bytes, ` +
    `${limits.maxPixels} pixels per image, ${limits.timeoutMs} ms per request, ${limits.concurrency} concurrent ` +
    `inference job(s) with ${limits.maxQueued} more admitted (uploading or waiting); beyond them the server answers 413, or 503 with ` +
    `Retry-After before reading the body. An upload that stalls for ${limits.bodyTimeoutMs} ms is answered 408. Memory: admitted requests hold at most ` +
    `${admitted} bytes of bodies, and only running ones decoded pixels (at most ${pixels} bytes). ` +
    (security.apiKey ? 'POST endpoints require an API key (Authorization: Bearer <key> or X-API-Key). ' : '') +
    (security.rateLimit > 0 ? `Each client may post ${security.rateLimit} requests per ${security.rateWindowMs / 1000} s (429 beyond).` : '')
  );
}

/** One POST endpoint taking an image: its query parameters, the image body, a 200 answer and the errors. */
function imagePost(summary: string, query: Parameters<typeof queryParams>[0], ok: object, errorResponses: object, security: object = {}): object {
  return { post: { ...security, summary, parameters: queryParams(query), requestBody: imageBody, responses: { 200: ok, ...errorResponses } } };
}

const PNG = { 'image/png': { schema: { type: 'string', format: 'binary' } } };

/** The image endpoints (POST /v1/*). */
function imagePaths(security: SecurityDoc): Record<string, object> {
  const imageErrors = errors([400, 401, 403, 408, 413, 415, 429, 503]);
  const post = security.apiKey ? { security: [{ bearer: [] }, { apiKeyHeader: [] }] } : {};
  return {
    '/v1/classify': imagePost(
      'Detect faces, classify the emotion and gender and estimate the age of each',
      imageQuerySchema,
      { description: 'faces found (possibly none)', content: { 'application/json': { schema: classifySchema } } },
      imageErrors,
      post,
    ),
    '/v1/detect': imagePost(
      'Detect faces only: boxes, scores and keypoints (eyes, nose, mouth, ears), no emotion, gender or age',
      imageQuerySchema,
      { description: 'faces found (possibly none)', content: { 'application/json': { schema: detectSchema } } },
      imageErrors,
      post,
    ),
    '/v1/annotate': imagePost(
      'The image with boxes, labels and emotion probability bars, as PNG',
      imageQuerySchema,
      { description: 'annotated PNG', content: PNG },
      imageErrors,
      post,
    ),
    '/v1/saliency': imagePost(
      'Saliency maps (guided back-propagation, Grad-CAM) of every face, as PNG',
      saliencyQuerySchema,
      { description: 'PNG with a panel per face', content: PNG },
      { ...imageErrors, ...errors([501]) },
      post,
    ),
  };
}

/** The read-only endpoints: models, health, this document, the page and its files. */
const INFO_PATHS: Record<string, object> = {
  '/v1/models': {
    get: {
      summary: 'Models in use with their cards',
      responses: { 200: { description: 'models', content: { 'application/json': { schema: modelsSchema } } } },
    },
  },
  '/healthz': {
    get: {
      summary: 'Liveness and load',
      responses: {
        200: { description: 'healthy', content: { 'application/json': { schema: healthSchema } } },
        503: { description: 'shutting down', content: { 'application/json': { schema: healthSchema } } },
      },
    },
  },
  '/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3 document' } } } },
  '/': { get: { summary: 'Web page: live webcam classification in the browser', responses: { 200: { description: 'HTML' } } } },
  '/models/{role}/{file}': {
    get: {
      summary: 'Files of a model in use (model.json and its weights), for tf.loadLayersModel / tf.loadGraphModel; URLs listed by /v1/models',
      parameters: [
        { name: 'role', in: 'path', required: true, schema: { type: 'string', enum: [...CLASSIFIER_TASKS, 'detector'] } },
        { name: 'file', in: 'path', required: true, schema: { type: 'string' } },
      ],
      responses: { 200: { description: 'file' }, 404: { description: 'not a file of that model' } },
    },
  },
  '/wasm/{file}': {
    get: {
      summary: 'tfjs WebAssembly backend binaries (from the installed @tensorflow/tfjs-backend-wasm), for tf.wasm.setWasmPaths',
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { 200: { description: 'application/wasm' }, 404: { description: 'unknown file' } },
    },
  },
};

export function openApiDocument(limits: LimitsDoc, version: string, security: SecurityDoc = { apiKey: false, rateLimit: 0, rateWindowMs: 60_000 }): object {
  return {
    openapi: '3.0.3',
    info: { title: 'facecls HTTP API', version, description: apiDescription(limits, security) },
    paths: { ...imagePaths(security), ...INFO_PATHS },
    components: {
      schemas: { Face: faceSchema, Classification: classifySchema, Detection: detectSchema, Error: errorSchema },
      ...(security.apiKey
        ? {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer', description: 'the API key the server was started with' },
              apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
            },
          }
        : {}),
    },
  };
}
