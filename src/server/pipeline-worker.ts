/**
 * Worker-thread side of WorkerPoolPipeline: loads its own FacePipeline (models loaded once per
 * worker) and answers classify / annotate / saliency / stats requests from the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { UserError, errorMessage } from '../errors.js';
import type { FaceClassifierOptions } from '../pipeline/face-classifier.js';
import { FacePipeline } from './face-pipeline.js';

export interface WorkerRequest {
  id: number;
  op: 'classify' | 'annotate' | 'saliency' | 'stats' | 'dispose';
  args: unknown[];
}

export interface WorkerReply {
  id: number;
  value?: unknown;
  error?: { message: string; user: boolean };
}

const port = parentPort!;

async function main(): Promise<void> {
  let pipeline: FacePipeline;
  try {
    pipeline = await FacePipeline.load(workerData as FaceClassifierOptions);
  } catch (err) {
    port.postMessage({ type: 'failed', message: errorMessage(err), user: err instanceof UserError });
    return;
  }
  port.postMessage({ type: 'ready', detectorName: pipeline.detectorName, models: pipeline.models() });
  port.on('message', async (msg: WorkerRequest) => {
    try {
      let value: unknown;
      const a = msg.args as never[];
      if (msg.op === 'classify') value = await pipeline.classify(a[0], a[1]);
      else if (msg.op === 'annotate') value = await pipeline.annotate(a[0], a[1]);
      else if (msg.op === 'saliency') value = await pipeline.saliency(a[0], a[1], a[2]);
      else if (msg.op === 'stats') value = { ...tf.memory(), heapUsed: process.memoryUsage().heapUsed };
      else if (msg.op === 'dispose') {
        await pipeline.dispose();
        port.postMessage({ id: msg.id, value: null } satisfies WorkerReply);
        port.close();
        return;
      }
      port.postMessage({ id: msg.id, value } satisfies WorkerReply);
    } catch (err) {
      port.postMessage({ id: msg.id, error: { message: errorMessage(err), user: err instanceof UserError } } satisfies WorkerReply);
    }
  });
}

void main();
