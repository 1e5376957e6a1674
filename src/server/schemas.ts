/**
 * JSON schemas of the HTTP API: fastify validates requests and serialises responses with them, and
 * the OpenAPI document at /openapi.json is generated from the same objects.
 */
import { KEYPOINT_NAMES } from '../detect/types.js';
import { EMOTION_LABELS, GENDER_LABELS } from '../io/model-store.js';
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

export const faceSchema = {
  type: 'object',
  required: ['box', 'score'],
  description: 'emotion and gender are absent only when that task is disabled on the server',
  properties: {
    box: { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4, description: '[x, y, width, height] in pixels of the (EXIF-rotated) image' },
    score: { type: 'number', description: 'detector confidence' },
    keypoints: keypointsSchema,
    emotion: classScores(EMOTION_LABELS),
    gender: classScores(GENDER_LABELS),
  },
} as const;

export const classifySchema = {
  type: 'object',
  required: ['width', 'height', 'faces'],
  properties: {
    width: { type: 'integer' },
    height: { type: 'integer' },
    faces: { type: 'array', items: faceSchema },
  },
} as const;

export const detectSchema = {
  type: 'object',
  required: ['width', 'height', 'faces'],
  properties: {
    width: { type: 'integer' },
    height: { type: 'integer' },
    faces: {
      type: 'array',
      items: {
        type: 'object',
        required: ['box', 'score'],
        properties: { box: faceSchema.properties.box, score: faceSchema.properties.score, keypoints: keypointsSchema },
      },
    },
  },
} as const;

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
  },
} as const;

export const saliencyQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...imageQuerySchema.properties,
    task: { type: 'string', enum: ['emotion', 'gender'], default: 'emotion' },
    method: { type: 'string', enum: [...SALIENCY_METHODS], default: 'guided' },
    class: { type: 'string', minLength: 1, maxLength: 64, description: 'class to explain; default the predicted class' },
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
          role: { type: 'string', description: 'emotion, gender or detector' },
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
      properties: { active: { type: 'integer' }, queued: { type: 'integer' }, completed: { type: 'integer' }, rejected: { type: 'integer' }, timedOut: { type: 'integer' } },
    },
    memory: {
      type: 'object',
      description: 'process rss; heap and tfjs tensors of the server thread plus its pipeline workers',
      properties: { rss: { type: 'integer' }, heapUsed: { type: 'integer' }, tensors: { type: 'integer' }, tensorBytes: { type: 'integer' } },
    },
  },
} as const;

/** Limits the server enforces, shown in the OpenAPI description. */
export interface LimitsDoc {
  bodyLimit: number;
  maxPixels: number;
  timeoutMs: number;
  concurrency: number;
  maxQueued: number;
}

const imageBody = {
  required: true,
  description: 'an image (JPEG, PNG, WebP, GIF, TIFF, AVIF): the raw bytes with an image/* or application/octet-stream content type, or a multipart/form-data upload with one file field',
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
          400: 'bad request: empty or corrupt image, invalid query parameter',
          404: 'not found',
          413: 'body larger than the byte limit, or image larger than the pixel limit',
          415: 'not an image, or an unsupported content type',
          501: 'not available in this build',
          503: 'overloaded or over the time limit: retry after the Retry-After header (seconds)',
        }[c],
        content: { 'application/json': { schema: errorSchema } },
      },
    ]),
  );

export function openApiDocument(limits: LimitsDoc, version: string): object {
  const imageErrors = errors([400, 413, 415, 503]);
  return {
    openapi: '3.0.3',
    info: {
      title: 'facecls HTTP API',
      version,
      description:
        `Face detection with emotion (7 classes) and gender classification. Limits: body ${limits.bodyLimit} bytes, ` +
        `${limits.maxPixels} pixels per image, ${limits.timeoutMs} ms per request, ${limits.concurrency} concurrent ` +
        `inference job(s) with ${limits.maxQueued} queued; beyond them the server answers 413 or 503 with Retry-After.`,
    },
    paths: {
      '/v1/classify': {
        post: {
          summary: 'Detect faces and classify the emotion and gender of each',
          parameters: queryParams(imageQuerySchema),
          requestBody: imageBody,
          responses: { 200: { description: 'faces found (possibly none)', content: { 'application/json': { schema: classifySchema } } }, ...imageErrors },
        },
      },
      '/v1/detect': {
        post: {
          summary: 'Detect faces only: boxes, scores and keypoints (eyes, nose, mouth, ears), no emotion or gender',
          parameters: queryParams(imageQuerySchema),
          requestBody: imageBody,
          responses: { 200: { description: 'faces found (possibly none)', content: { 'application/json': { schema: detectSchema } } }, ...imageErrors },
        },
      },
      '/v1/annotate': {
        post: {
          summary: 'The image with boxes, labels and emotion probability bars, as PNG',
          parameters: queryParams(imageQuerySchema),
          requestBody: imageBody,
          responses: { 200: { description: 'annotated PNG', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, ...imageErrors },
        },
      },
      '/v1/saliency': {
        post: {
          summary: 'Saliency maps (guided back-propagation, Grad-CAM) of every face, as PNG',
          parameters: queryParams(saliencyQuerySchema),
          requestBody: imageBody,
          responses: { 200: { description: 'PNG with a panel per face', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, ...imageErrors, ...errors([501]) },
        },
      },
      '/v1/models': {
        get: { summary: 'Models in use with their cards', responses: { 200: { description: 'models', content: { 'application/json': { schema: modelsSchema } } } } },
      },
      '/healthz': {
        get: {
          summary: 'Liveness and load',
          responses: { 200: { description: 'healthy', content: { 'application/json': { schema: healthSchema } } }, 503: { description: 'shutting down', content: { 'application/json': { schema: healthSchema } } } },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3 document' } } } },
      '/': { get: { summary: 'Web page: live webcam classification in the browser', responses: { 200: { description: 'HTML' } } } },
      '/models/{role}/{file}': {
        get: {
          summary: 'Files of a model in use (model.json and its weights), for tf.loadLayersModel / tf.loadGraphModel; URLs listed by /v1/models',
          parameters: [
            { name: 'role', in: 'path', required: true, schema: { type: 'string', enum: ['emotion', 'gender', 'detector'] } },
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
    },
    components: { schemas: { Face: faceSchema, Classification: classifySchema, Detection: detectSchema, Error: errorSchema } },
  };
}
