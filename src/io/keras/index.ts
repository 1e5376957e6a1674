export { readKerasHdf5, type KerasFile, type KerasArray } from './hdf5.js';
export { buildFromKerasConfig, type BuiltGraph } from './graph.js';
export { SUPPORTED_LAYERS } from './layers.js';
export { matchZooArchitecture, structureHash, type ArchMatch } from './arch.js';
export {
  importKerasModel,
  loadKerasModel,
  MODEL_CARD_JSON,
  MODEL_CARD_MD,
  type KerasImportOptions,
  type KerasImportResult,
  type ImportedKerasModel,
} from './import.js';
