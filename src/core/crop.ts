/**
 * THE crop rule: which square of the image each classifier sees for a detected face. Used by the
 * library (FaceClassifier), the CLI, the server, saliency, video and the browser package. No Node imports.
 *
 * Crop margins. A model's card states `cropMargin`: the margin (fraction of the face side, per side)
 * around the face square its training crops had, the face square being an aligned UTKFace chip
 * (0 = chip framing, which FER-2013 and UTKFace-trained models see). Detectors frame faces
 * differently, so the margin applied to a detector box is converted with the detector's measured
 * box size relative to that face square (DETECTOR_FRAMING, medians over composed UTKFace frames:
 * BlazeFace boxes, extended to the forehead, are 1.05 of the chip side, the Haar cascade's 1.03), and
 * the crop is centred where that framing puts the chip's centre. A model without `cropMargin` gets 0
 * (chip framing).
 * Tuning (bench/tune-margin.ts, UTKFace validation adults; see docs/pipeline.md): the paper's imported
 * Keras gender model is most accurate around a margin of 0.3, i.e. 0.38 on BlazeFace boxes.
 */
import { faceCrop, squareBox, type Box, type FaceCrop } from '../data/preprocess.js';
import { DETECTOR_FRAMING, type Detection, type DetectorName } from '../detect/types.js';
import type { ModelMeta } from '../io/model-meta.js';

/**
 * Face alignment default: level the eyes (BlazeFace keypoints) before classifying. Chosen on validation
 * (README, "Faces from other sources"): with faces tilted up to 25 degrees, see DEFAULT_ALIGN's figures there.
 */
export const DEFAULT_ALIGN = true;

export const DETECTOR_BOX_SCALE: Record<DetectorName, number> = { blazeface: DETECTOR_FRAMING.blazeface.scale, haar: DETECTOR_FRAMING.haar.scale };

/**
 * The square a classifier sees around a detector's box, `margin` being the margin around that box
 * (detectorMargin: the model's margin converted to the detector's framing), centred where the
 * detector's framing puts the face chip's centre (DETECTOR_FRAMING shift). Without the eye levelling.
 */
export function detectorCropBox(box: Box, detector: DetectorName, margin: number): Box {
  return squareBox(box, margin, DETECTOR_FRAMING[detector].shift);
}

/** Margin around a detector's box that yields a crop with `modelMargin` around the face square. */
export function detectorMargin(detector: DetectorName, modelMargin = 0): number {
  return Math.round((((1 + 2 * modelMargin) / DETECTOR_BOX_SCALE[detector] - 1) / 2) * 1000) / 1000;
}

/** Margins for a model without `cropMargin` (chip framing): BlazeFace -0.024, Haar -0.015. */
export const DEFAULT_CROP_MARGIN: Record<DetectorName, number> = { blazeface: detectorMargin('blazeface'), haar: detectorMargin('haar') };

/** How faces are cut for the classifiers. */
export interface CropRule {
  /** The detector whose boxes are cut (its framing converts the model's margin). */
  detector: DetectorName;
  /** Level the eyes when the detection has keypoints. Default DEFAULT_ALIGN. */
  align?: boolean;
  /** Margin around the detector box (per side, fraction of the box); overrides the model card's. */
  cropMargin?: number;
}

/** Margin around the rule's detector boxes for a model: the rule's override if given, else from the model card. */
export function cropMarginFor(meta: Pick<ModelMeta, 'cropMargin'> | undefined, rule: CropRule): number {
  if (rule.cropMargin !== undefined) return rule.cropMargin;
  const fromCard = meta?.cropMargin;
  return detectorMargin(rule.detector, typeof fromCard === 'number' && Number.isFinite(fromCard) ? fromCard : 0);
}

/**
 * The crop a model sees for each detection: the crop rule (squared box grown by the model's margin,
 * shifted by the detector's framing, eyes levelled); with `asGiven` the detection's box itself (a
 * face crop used as it is).
 */
export function modelCrops(
  dets: ReadonlyArray<Pick<Detection, 'box' | 'keypoints'>>,
  meta: Pick<ModelMeta, 'cropMargin'> | undefined,
  rule: CropRule,
  asGiven = false,
): FaceCrop[] {
  if (asGiven) return dets.map((d) => ({ box: d.box }));
  const margin = cropMarginFor(meta, rule);
  return dets.map((d) => faceCrop(d, margin, rule.align ?? DEFAULT_ALIGN, DETECTOR_FRAMING[rule.detector].shift));
}
