/**
 * BlazeFace (MediaPipe "back" variant, 256x256) loaded from assets/blazeface with our own code: the
 * decoding is ./blazeface-core.ts (browser-safe); this file loads the shipped weights from disk and
 * runs the network on onnxruntime-node, converted in memory by ./graph-to-onnx.ts (about 5x faster
 * than tfjs wasm here), or on tfjs (engine 'tfjs', also the fallback when onnxruntime cannot load).
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { projectRoot } from '../data/paths.js';
import { UserError, errorMessage } from '../errors.js';
import { settings } from '../settings.js';
import { fileSystem } from '../io/fs-handler.js';
import { graphToOnnx } from './graph-to-onnx.js';
import { BLAZEFACE_INPUT, BlazeFaceCore, concat, OUTPUTS, TfjsNet, type BlazeFaceNet, type DetectorEngine } from './blazeface-core.js';

export * from './blazeface-core.js';

export function blazefaceAssetDir(): string {
  return path.join(projectRoot(), 'assets', 'blazeface');
}

/* eslint-disable @typescript-eslint/no-explicit-any -- onnxruntime-node is loaded lazily */
class OrtNet implements BlazeFaceNet {
  constructor(
    private readonly ort: any,
    private readonly session: any,
    private readonly input: string,
    private readonly outputs: string[],
  ) {}
  async run(input: Float32Array) {
    const size = BLAZEFACE_INPUT;
    const feeds = { [this.input]: new this.ort.Tensor('float32', input, [1, size, size, 3]) };
    const res = await this.session.run(feeds);
    const [s512, s384, r512, r384] = this.outputs.map((o) => res[o].data as Float32Array);
    return { scores: concat(s512, s384), regs: concat(r512, r384) };
  }
  dispose() {
    void this.session.release?.();
  }
}

function ortThreads(): number {
  return settings.ortThreads() ?? 1;
}

/** BlazeFace in Node: the core detector plus loading the shipped model (onnx or tfjs engine). */
export class BlazeFaceDetector extends BlazeFaceCore {
  /**
   * A detector over an already loaded tfjs BlazeFace graph model: NHWC [1, 256, 256, 3] in, the four
   * score/regressor outputs of the shipped model. The detector owns the model (dispose() frees it).
   */
  static override fromGraphModel(model: tf.GraphModel): BlazeFaceDetector {
    return new BlazeFaceDetector(new TfjsNet(model), 'tfjs');
  }

  /**
   * Load the shipped BlazeFace. Engine: 'onnx' (default; falls back to tfjs with a warning on
   * stderr when onnxruntime-node cannot load) or 'tfjs' (on the active tfjs backend).
   */
  static async load(opts: { dir?: string; engine?: DetectorEngine } = {}): Promise<BlazeFaceDetector> {
    const dir = opts.dir ?? blazefaceAssetDir();
    const artifacts = await fileSystem(dir).load();
    const engine = opts.engine ?? settings.detectorEngine() ?? 'onnx';
    if (engine === 'onnx') {
      let ort: any;
      try {
        ort = await import('onnxruntime-node');
      } catch (err) {
        if (opts.engine === 'onnx') throw new UserError(`onnxruntime-node cannot be loaded (${errorMessage(err)})`, { cause: err });
        process.stderr.write(`facecls: warning: onnxruntime-node cannot be loaded (${errorMessage(err)}); BlazeFace runs on tfjs\n`);
      }
      if (ort) {
        const weights = tf.io.decodeWeights(artifacts.weightData as ArrayBuffer, artifacts.weightSpecs ?? []);
        try {
          const conv = graphToOnnx(artifacts.modelTopology as { node: never[] }, weights, [1, BLAZEFACE_INPUT, BLAZEFACE_INPUT, 3], OUTPUTS);
          const session = await ort.InferenceSession.create(conv.bytes, {
            intraOpNumThreads: ortThreads(),
            interOpNumThreads: 1,
            executionMode: 'sequential',
            graphOptimizationLevel: 'all',
          });
          return new BlazeFaceDetector(new OrtNet(ort, session, conv.input, conv.outputs), 'onnx');
        } finally {
          tf.dispose(Object.values(weights));
        }
      }
    } else if (engine !== 'tfjs') throw new UserError(`unknown detector engine "${engine}": choose onnx or tfjs`);
    const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
    return new BlazeFaceDetector(new TfjsNet(model), 'tfjs');
  }
}
