/**
 * Worker thread holding onnxruntime sessions for one or more models, so big batches use more than
 * one core (onnxruntime-node runs a session synchronously on the calling thread). A request runs one
 * chunk of faces through each listed model. See OnnxWorkerPool.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

interface Init {
  models: Uint8Array[];
  options: ort.InferenceSession.SessionOptions;
}

export interface ModelInput {
  /** Index into the worker's models. */
  model: number;
  data: Float32Array;
  dims: number[];
}

export interface WorkerRequest {
  id: number;
  inputs: ModelInput[];
  /** Run each input in session.run calls of at most this many faces (dims[0] is the total). */
  chunk: number;
}

export type WorkerReply = { ready: true } | { id: number; outs: Float32Array[] } | { id: number; error: string } | { fatal: string };

const port = parentPort!;
const init = workerData as Init;
try {
  const sessions = await Promise.all(init.models.map((bytes) => ort.InferenceSession.create(bytes, init.options)));
  port.on('message', async (req: WorkerRequest) => {
    try {
      const outs: Float32Array[] = [];
      for (const { model, data, dims } of req.inputs) {
        const session = sessions[model];
        if (!session) throw new Error(`no model ${model} in this worker`);
        const [n, ...face] = dims;
        const per = face.reduce((a, b) => a * b, 1);
        const parts: Float32Array[] = [];
        for (let i = 0; i < n; i += req.chunk) {
          const k = Math.min(req.chunk, n - i);
          const x = new ort.Tensor('float32', data.subarray(i * per, (i + k) * per), [k, ...face]);
          parts.push((await session.run({ [session.inputNames[0]]: x }))[session.outputNames[0]].data as Float32Array);
        }
        const y = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
        parts.reduce((off, p) => (y.set(p, off), off + p.length), 0);
        outs.push(y);
      }
      port.postMessage(
        { id: req.id, outs } satisfies WorkerReply,
        outs.map((y) => y.buffer as ArrayBuffer),
      );
    } catch (err) {
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    }
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
} catch (err) {
  port.postMessage({ fatal: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
}
