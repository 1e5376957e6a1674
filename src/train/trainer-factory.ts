/** Which Trainer serves a run: the engine's worker-parallel one, or the in-process one for 0 workers. */
import { createTrainer } from '../engine/trainer.js';
import type { Trainer, TrainerConfig } from '../engine/trainer-types.js';
import { createLocalTrainer } from './local-trainer.js';

export async function makeTrainer(config: TrainerConfig): Promise<Trainer> {
  if (config.workers === 0) return createLocalTrainer(config);
  return createTrainer(config);
}
