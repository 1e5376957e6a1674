/**
 * facecls library entry: the public API, by group. Every name is listed on purpose (no `export *`);
 * test/api/public-api.test.ts pins the list, so a change to it is a deliberate one. Benchmark helpers,
 * command-line helpers and mutable module state (the tfjs namespace, default-option records) are not
 * exported: import tfjs yourself, and call the functions that take options.
 */

// Errors: every user error is a UserError with a typed `reason`.
export { UserError, errorMessage } from './errors.js';
export type { UserErrorReason, UserErrorOptions, DecodeErrorReason, PathListErrorReason, RuntimeErrorReason, GeneralErrorReason } from './errors.js';
export { ImageDecodeError } from './data/decode.js';
export { WriteFileError } from './io/fs-handler.js';
export { TransientError, isTransient } from './pipeline/file-result.js';

// Images: decoding and the one preprocessing function.
export { decodeImage, readFileBounded, toGrey, MAX_INPUT_BYTES, MAX_INPUT_PIXELS, type DecodeOptions } from './data/decode.js';
export {
  preprocessFace,
  preprocessBatch,
  faceCrop,
  squareBox,
  clipBox,
  eyeLineAngle,
  scalePixel,
  INPUT_RANGE,
  LUMA_WEIGHTS,
  MIN_ALIGN_ANGLE,
  MAX_ALIGN_ANGLE,
} from './data/preprocess.js';
export type { RawImage, Box, PreprocessOptions, FaceCrop } from './data/preprocess.js';

// Detection.
export {
  createDetector,
  DEFAULT_DETECTOR,
  BlazeFaceDetector,
  BLAZEFACE_INPUT,
  HaarDetector,
  loadOpenCv,
  type DetectorEngine,
  type HaarOptions,
} from './detect/index.js';
export { DETECTORS, KEYPOINT_NAMES, isDetectorName, parseDetectorName, iou, nms } from './detect/index.js';
export type { Detector, DetectorName, Detection, DetectOptions, Keypoints, KeypointName, Point, TileMode } from './detect/index.js';

// The core (also in facecls/browser): one result type, the crop rule, the classification step
// (crops -> preprocessing -> runtime with its TTA -> labels) and the drawing.
export type { LabelScores, FaceResult, TrackedFace, ClassifierTask, AgeEstimate } from './core/types.js';
export { toAgeEstimate, formatAge } from './core/age.js';
export { CLASSIFIER_TASKS } from './core/types.js';
export { detectorMargin, detectorCropBox, cropMarginFor, modelCrops, type CropRule } from './core/crop.js';
export { classifyDetections, taskInput, toFaceResult, toLabelScores } from './core/classify.js';
export type { Classifiers, BatchRunner, TaskInput, ClassifiedFaces, ClassifyStepOptions } from './core/classify.js';
export { layoutFaces, annotationShapes, drawFaces, type Shape, type FaceLayout, type Rect, type Canvas2D } from './core/draw.js';
export { emotionColour } from './core/colours.js';

// Classification pipeline: detect -> crop -> classify, files, video, drawing, saliency of the same faces.
export { FaceClassifier, defaultModelDir } from './pipeline/face-classifier.js';
export type { FaceClassifierOptions, ClassifyOptions, ImageInput } from './pipeline/face-classifier.js';
export type { FrameResult, StageTimes } from './pipeline/types.js';
export { Explainer, type ExplainRequest } from './pipeline/explainer.js';
export { classifyFile, fetchInput, isUrl, MAX_DOWNLOAD_BYTES, type FileResult, type InputItem, type ClassifyFileOptions } from './pipeline/file-result.js';
export { expandInput, expandInputs, IMAGE_EXTENSIONS, type ExpandOptions } from './inputs/expand.js';
export { readPathList, PathListError } from './inputs/path-list.js';
export { FaceTracker, type TrackerOptions } from './pipeline/tracker.js';
export { annotatePng, annotateRgb, overlaySvg } from './pipeline/annotate.js';
export { probeVideo, readFrames, VideoWriter, StreamError, type VideoInfo, type Frame } from './pipeline/ffmpeg.js';
export { processStream, type StreamOptions, type StreamSummary } from './pipeline/video.js';

// Inference runtimes (onnxruntime-node by default in Node, tfjs) and the compute backend.
export { createRuntime, createRuntimeFromModel, TfjsRuntime, OnnxRuntime, type CreateRuntimeOptions, type OnnxRuntimeOptions } from './runtime/index.js';
export { RUNTIMES, DEFAULT_RUNTIME, isRuntimeName, parseRuntimeOption, type RuntimeName, type InferenceRuntime } from './runtime/index.js';
export { setupBackend, currentBackend, resolveBackendName, isBackendName, BACKENDS, type BackendName } from './engine/backend.js';

// Models: building blocks, the zoo, cost, ensembles.
export {
  input,
  conv,
  separableConv,
  batchNorm,
  relu,
  dropout,
  avgPool,
  maxPool,
  add,
  convBnRelu,
  xceptionModule,
  classificationHead,
  l2Regularizer,
} from './framework/blocks.js';
export type { Sym, Padding, RegOptions, ConvOptions, XceptionModuleOptions, HeadOptions } from './framework/blocks.js';
export { ZOO, ARCH_NAMES, getArchitecture, buildModel, type BuildOptions, type Architecture } from './framework/zoo.js';
export { modelCost, layerMacs, type ModelCost } from './framework/cost.js';
export { buildEnsemble } from './framework/ensemble.js';

// Training and shipping.
export { train, resumeTraining, type TrainOptions, type TrainSummary, type RunControl } from './train/train.js';
export { shipRun, type ShipOptions, type ShipResult } from './train/ship.js';
export { readShippedModels, type ModelCard, type ShippedModelRow } from './train/model-card.js';
export { loadDataset, detectFormat, parseSplitName, DATASET_FORMATS } from './data/load.js';
export type { Dataset, DatasetFormat, Sample, SampleMeta, SplitName, Skipped } from './data/dataset.js';

// Evaluation.
export { evaluate, type EvalReport, type EvaluateOptions } from './eval/evaluate.js';
export { metricsFromConfusion, Confusion, type Metrics, type ClassMetrics } from './eval/metrics.js';
export { ageMetrics, ageRange, fitAgeRange, type AgeMetrics, type AgeRangeSpec } from './eval/age-metrics.js';
export { AGE_CENTRES, ageTarget, expectedAge, type AgeCodec } from './data/age.js';

// Explaining: saliency maps and their drawing.
export { saliencyMaps, saliencyTensors, releaseSaliency, inputGradients, SALIENCY_METHODS, isSaliencyMethod } from './viz/index.js';
export type { SaliencyMethod, SaliencyOptions, SaliencyResult, SaliencyTensors } from './viz/index.js';
export { explainFaces, explainedPanel, resolveClass, renderSaliencyPanel, blendSaliency, colormapLut, colorOf, COLORMAPS } from './viz/index.js';
export type { ExplainedFace, ExplainOptions, PanelFace, PanelOptions, FrameMap, BlendOptions, ColormapName } from './viz/index.js';

// IO and export: model files, ONNX.
export {
  saveModel,
  loadModel,
  shippedModelName,
  EMOTION_LABELS,
  GENDER_LABELS,
  type ModelMeta,
  type ModelVariant,
  type LoadedModel,
  type Task,
} from './io/model-store.js';
export { fileSystem, registerFileRouter, modelDir, FileSystemHandler, MODEL_JSON, WEIGHTS_BIN } from './io/fs-handler.js';
export {
  exportToOnnx,
  exportModelDir,
  writeOnnx,
  readOnnxInfo,
  shippedOnnx,
  decodeModel,
  MODEL_ONNX,
  SUPPORTED_LAYERS,
  IR_VERSION,
  MIN_OPSET,
  MAX_OPSET,
} from './io/onnx/index.js';
export type { OnnxExportOptions, OnnxInfo, ExportedModel } from './io/onnx/index.js';

// Configuration: the environment variables facecls reads.
export { SETTINGS, type SettingInfo, type SettingName } from './settings.js';
