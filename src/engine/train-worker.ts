/**
 * Worker-thread side of the data-parallel trainer: one tfjs + wasm instance holding one replica.
 * Requests are {id, type, ...}; every request gets exactly one reply {id, ok, result} or {id, ok: false, error}.
 */
import { parentPort } from 'node:worker_threads';
import { setupBackend } from './backend.js';
import { Replica, type ReplicaConfig } from './replica.js';
import type { BackendName } from './backend.js';

type Request =
  | { id: number; type: 'init'; config: ReplicaConfig; backend?: BackendName }
  | { id: number; type: 'step' | 'grads'; x: Float32Array; y: Float32Array; n: number }
  | { id: number; type: 'apply'; grads: Float32Array; state: Float32Array }
  | { id: number; type: 'setLearningRate'; lr: number }
  | { id: number; type: 'getWeights' | 'getOptimizerState' | 'memory' | 'dispose' }
  | { id: number; type: 'setOptimizerState'; state: { iterations: number; slots: Float32Array[] } };

const port = parentPort;
if (!port) throw new Error('train-worker must run in a worker thread');

let replica: Replica | undefined;

function need(): Replica {
  if (!replica) throw new Error('worker not initialised');
  return replica;
}

async function handle(req: Request): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  switch (req.type) {
    case 'init': {
      await setupBackend(req.backend ?? 'wasm');
      replica = await Replica.create(req.config);
      return { result: { gradientSize: replica.gradientSize } };
    }
    case 'step':
      return { result: need().step(req.x, req.y, req.n) };
    case 'grads': {
      const g = need().shardGradients(req.x, req.y, req.n);
      return { result: g, transfer: [g.grads.buffer as ArrayBuffer, g.state.buffer as ArrayBuffer] };
    }
    case 'apply':
      need().applyFlat(req.grads, req.state);
      return { result: null };
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
