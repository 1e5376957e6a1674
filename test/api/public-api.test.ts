import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../src/index.js';

/**
 * The library's public names (runtime values; types are checked by the compiler). A change here is a
 * change to the public API: make it on purpose, and say so in the README.
 */
const PUBLIC = [
  'AGE_CENTRES', 'ageMetrics', 'ageRange', 'ageTarget', 'expectedAge', 'fitAgeRange',
  'ARCH_NAMES', 'BACKENDS', 'CLASSIFIER_TASKS', 'Explainer', 'annotationShapes', 'classifyDetections', 'cropMarginFor', 'drawFaces', 'emotionColour', 'layoutFaces', 'modelCrops', 'taskInput', 'toFaceResult', 'BLAZEFACE_INPUT', 'BlazeFaceDetector', 'COLORMAPS', 'Confusion', 'DATASET_FORMATS',
  'DEFAULT_DETECTOR', 'DEFAULT_RUNTIME', 'DETECTORS', 'EMOTION_LABELS', 'FaceClassifier', 'FaceTracker',
  'FileSystemHandler', 'GENDER_LABELS', 'HaarDetector', 'IMAGE_EXTENSIONS', 'INPUT_RANGE', 'IR_VERSION',
  'ImageDecodeError', 'KEYPOINT_NAMES', 'LUMA_WEIGHTS', 'MAX_ALIGN_ANGLE', 'MAX_DOWNLOAD_BYTES', 'MAX_INPUT_BYTES',
  'MAX_INPUT_PIXELS', 'MAX_OPSET', 'MIN_ALIGN_ANGLE', 'MIN_OPSET', 'MODEL_JSON', 'MODEL_ONNX', 'OnnxRuntime',
  'PathListError', 'RUNTIMES', 'SALIENCY_METHODS', 'SETTINGS', 'SUPPORTED_LAYERS', 'StreamError', 'TfjsRuntime',
  'TransientError', 'UserError', 'VideoWriter', 'WEIGHTS_BIN', 'WriteFileError', 'ZOO', 'add', 'annotatePng',
  'annotateRgb', 'avgPool', 'batchNorm', 'blendSaliency', 'buildEnsemble', 'buildModel', 'classificationHead',
  'classifyFile', 'clipBox', 'colorOf', 'colormapLut', 'conv', 'convBnRelu', 'createDetector', 'createRuntime',
  'createRuntimeFromModel', 'currentBackend', 'decodeImage', 'decodeModel', 'defaultModelDir', 'detectFormat',
  'detectorCropBox', 'detectorMargin', 'dropout', 'errorMessage', 'evaluate', 'expandInput', 'expandInputs',
  'explainFaces', 'explainedPanel', 'exportModelDir', 'exportToOnnx', 'eyeLineAngle', 'faceCrop', 'fetchInput',
  'fileSystem', 'getArchitecture', 'input', 'inputGradients', 'iou', 'isBackendName', 'isDetectorName',
  'isRuntimeName', 'isSaliencyMethod', 'isTransient', 'isUrl', 'l2Regularizer', 'layerMacs', 'loadDataset',
  'loadModel', 'loadOpenCv', 'maxPool', 'metricsFromConfusion', 'modelCost', 'modelDir', 'nms', 'overlaySvg',
  'parseDetectorName', 'parseRuntimeOption', 'parseSplitName', 'preprocessBatch', 'preprocessFace', 'probeVideo',
  'processStream', 'readFileBounded', 'readFrames', 'readOnnxInfo', 'readPathList', 'readShippedModels',
  'registerFileRouter', 'releaseSaliency', 'relu', 'renderSaliencyPanel', 'resolveBackendName', 'resolveClass',
  'resumeTraining', 'saliencyMaps', 'saliencyTensors', 'saveModel', 'scalePixel', 'separableConv', 'setupBackend',
  'shipRun', 'shippedModelName', 'shippedOnnx', 'squareBox', 'toGrey', 'toLabelScores', 'train', 'writeOnnx',
  'xceptionModule',
];

test('src/index.ts exports exactly the pinned public names', () => {
  assert.deepEqual(Object.keys(api).sort(), [...PUBLIC].sort());
});

test('no benchmark helper, command-line helper or mutable module state is exported', () => {
  const names = Object.keys(api);
  for (const n of ['tf', 'benchSaliency', 'timeInference', 'median', 'percentile', 'RUNTIME_OPTION_HELP', 'EMOTION_COLOURS', 'DEFAULT_TRAIN_OPTIONS', 'writeFileAtomic']) {
    assert.ok(!names.includes(n), n);
  }
});
