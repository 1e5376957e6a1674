import type { Command } from 'commander';
import { ZOO } from '../../framework/index.js';

export function registerOverview(program: Command): void {
  program
    .command('overview')
    .description('what facecls is and the commands to start with')
    .action(() => {
      console.log(`facecls: real-time face detection, emotion (7 classes) and gender classification, age estimation.

Architectures in the zoo: ${ZOO.map((a) => a.name).join(', ')}

Start with:
  facecls models            list the zoo with parameters and MACs
  facecls models --bench    also measure inference time on this machine
  facecls --help            every command`);
    });
}
