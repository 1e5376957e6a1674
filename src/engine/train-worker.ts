/**
 * Worker-thread side of the data-parallel trainer: one tfjs + wasm instance holding one replica.
 * Requests are {id, type, ...}; every request gets exactly one reply {id, ok, result} or {id, ok: false, error}.
 */
import { parentPort } from 'node:worker_threads';
import { setupBackend } from './backend.js';
import { SharedGradients } from './allreduce.js';
import { Replica, type ReplicaConfig, type ShardStats } from './replica.js';
import type { BackendName } from './backend.js';

type Request =
  | { id: number; type: 'init'; config: ReplicaConfig; backend?: BackendName }
  | { id: number; type: 'attach'; buffer: SharedArrayBuffer; index: number; workers: number; gradientSize: number; stateSize: number }
  | { id: number; type: 'step' | 'step-shared'; x: Float32Array; y: Float32Array; n: number }
  | { id: number; type: 'setLearningRate'; lr: number }
  | { id: number; type: 'getWeights' | 'getOptimizerState' | 'memory' | 'dispose' }
  | { id: number; type: 'setOptimizerState'; state: { iterations: number; slots: Float32Array[] } };

const port = parentPort;
if (!port) throw new Error('train-worker must run in a worker thread');

let replica: Replica | undefined;
let shared: { gradients: SharedGradients; index: number } | undefined;

function need(): Replica {
  if (!replica) throw new Error('worker not initialised');
  return replica;
}

async function handle(req: Request): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  switch (req.type) {
    case 'init': {
      await setupBackend(req.backend ?? 'wasm');
      replica = await Replica.create(req.config);
      return { result: { gradientSize: replica.gradientSize, stateSize: replica.stateSize } };
    }
    case 'attach':
      shared = { gradients: new SharedGradients(req.buffer, req.workers, req.gradientSize, req.stateSize), index: req.index };
      return { result: null };
    case 'step':
      return { result: need().step(req.x, req.y, req.n) };
    case 'step-shared': {
      // Shard gradients -> shared slot -> barrier -> the same average and update on every worker.
      const r = need();
      if (!shared) throw new Error('worker has no shared gradient buffer');
      const { gradients, index } = shared;
      let stats: ShardStats = { n: 0, lossSum: 0, regularizationLoss: 0, correct: 0 };
      try {
        if (req.n > 0) {
          const { grads, state, ...rest } = r.shardGradients(req.x, req.y, req.n);
          gradients.write(index, req.n, grads, state);
          stats = rest;
        } else {
          gradients.write(index, 0, undefined, undefined);
        }
      } catch (err) {
        gradients.abort();
        throw err;
      }
      gradients.barrier();
      const { grads, state } = gradients.average();
      r.applyFlat(grads, state);
      return { result: stats };
    }
    case 'setLearningRate':
      need().setLearningRate(req.lr);
      return { result: null };
    case 'getWeights': {
      const ws = need().getWeights();
      return { result: ws, transfer: ws.map((w) => w.buffer as ArrayBuffer) };
    }
    case 'getOptimizerState':
      return { result: await need().getOptimizerState() };
    case 'setOptimizerState':
      await need().setOptimizerState(req.state);
      return { result: null };
    case 'memory': {
      const tf = await import('@tensorflow/tfjs');
      return { result: tf.memory() };
    }
    case 'dispose':
      replica?.dispose();
      replica = undefined;
      return { result: null };
  }
}

port.on('message', (req: Request) => {
  handle(req).then(
    ({ result, transfer }) => port.postMessage({ id: req.id, ok: true, result }, transfer ?? []),
    (err: unknown) => port.postMessage({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
