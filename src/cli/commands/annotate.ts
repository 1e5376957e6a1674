/** `facecls annotate <image> -o out.png`: the image with every face's box, labels and probability bars. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { checkOutputFile, writeFileAtomic } from '../../io/fs-handler.js';
import { UserError } from '../../errors.js';
import { annotatePng } from '../../pipeline/annotate.js';
import { FaceClassifier } from '../../pipeline/face-classifier.js';
import {
  addInputFileOptions,
  addPipelineOptions,
  classifierOptions,
  inputFileOptions,
  type InputFileCliOptions,
  type PipelineCliOptions,
} from '../pipeline-options.js';

export function registerAnnotate(program: Command): void {
  const cmd = program
    .command('annotate')
    .description('draw faces with emotion, gender and age (boxes, labels, probability bars) onto an image, saved as PNG')
    .argument('<image>', 'input image')
    .requiredOption('-o, --output <file.png>', 'output PNG')
    .option('--json', 'also print the faces as one JSON object', false);
  addInputFileOptions(addPipelineOptions(cmd)).action(
    async (image: string, o: PipelineCliOptions & InputFileCliOptions & { output: string; json: boolean }, c: Command) => {
      if (path.extname(o.output).toLowerCase() !== '.png') throw new UserError(`--output must be a .png file, got "${o.output}"`);
      if (path.resolve(o.output) === path.resolve(image)) throw new UserError('--output must differ from the input image');
      // An output that can never be a file (a directory named x.png) fails before the models load.
      checkOutputFile(o.output);
      const fc = await FaceClassifier.load({ ...classifierOptions(o, c.optsWithGlobals().backend), ...inputFileOptions(o) });
      try {
        const img = await fc.decode(image);
        const faces = await fc.classify(img);
        writeFileAtomic(o.output, await annotatePng(img, faces));
        if (o.json) process.stdout.write(JSON.stringify({ file: image, width: img.width, height: img.height, faces }) + '\n');
        else process.stderr.write(`${o.output}: ${faces.length} face(s)\n`);
      } finally {
        await fc.dispose();
      }
    },
  );
}
