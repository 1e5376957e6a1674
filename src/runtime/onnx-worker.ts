/**
 * Worker thread holding one onnxruntime session, so big batches use more than one core
 * (onnxruntime-node runs a session synchronously on the calling thread). See OnnxWorkerPool.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

interface Init {
  bytes: Uint8Array;
  options: ort.InferenceSession.SessionOptions;
}

export interface WorkerRequest {
  id: number;
  data: Float32Array;
  dims: number[];
}

export type WorkerReply = { ready: true } | { id: number; out: Float32Array } | { id: number; error: string } | { fatal: string };

const port = parentPort!;
const init = workerData as Init;
try {
  const session = await ort.InferenceSession.create(init.bytes, init.options);
  port.on('message', async (req: WorkerRequest) => {
    try {
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', req.data, req.dims) });
      const y = Float32Array.from(out[session.outputNames[0]].data as Float32Array);
      port.postMessage({ id: req.id, out: y } satisfies WorkerReply, [y.buffer]);
    } catch (err) {
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    }
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
} catch (err) {
  port.postMessage({ fatal: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
}
