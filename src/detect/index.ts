/** Face detectors behind one interface; `createDetector` picks one by name. */
import { BLAZEFACE_DEFAULTS, BlazeFaceDetector, type DetectorEngine } from './blazeface.js';
import { HaarDetector, type HaarOptions } from './haar.js';
import { parseDetectorName, type Detector, type DetectorName } from './types.js';

export * from './types.js';
export * from './nms.js';
export { BlazeFaceDetector, BLAZEFACE_DEFAULTS, BLAZEFACE_INPUT, type DetectorEngine } from './blazeface.js';
export { HaarDetector, HAAR_DEFAULTS, loadOpenCv, type HaarOptions } from './haar.js';

/** Operating score threshold of each detector by default (the Haar cascade scores every face 1). */
export const DETECTOR_DEFAULTS: Record<DetectorName, { scoreThreshold: number }> = {
  blazeface: { scoreThreshold: BLAZEFACE_DEFAULTS.scoreThreshold },
  haar: { scoreThreshold: 0.5 },
};

/** The default: BlazeFace, better than the paper's Haar cascade on recall, precision and speed (bench/pipeline.ts). */
export const DEFAULT_DETECTOR = 'blazeface';

export async function createDetector(name: string = DEFAULT_DETECTOR, haar: HaarOptions = {}, engine?: DetectorEngine): Promise<Detector> {
  return parseDetectorName(name) === 'haar' ? HaarDetector.load(haar) : BlazeFaceDetector.load({ engine });
}
