/** `facecls ship <run-dir>... -o <model dir> [--final] [--tta flip] [--balance [accuracy|parity]] [--force] [--json]`: training run(s) -> a shipped model (or ensemble) with its card. */
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { RUNTIME_OPTION_HELP } from '../../runtime/options.js';
import { BALANCE_CRITERIA, type BalanceCriterion } from '../../train/calibrate.js';
import { MODEL_CARD_JSON, MODEL_CARD_MD, type CardEvaluation } from '../../train/model-card.js';
import { countProgress } from '../../train/progress.js';
import { shipRun } from '../../train/ship.js';
import { fmt, printJson } from '../output.js';

interface ShipCliOptions {
  output: string;
  final: boolean;
  tta: string;
  force: boolean;
  balance: boolean | string;
  json: boolean;
  data?: string;
  runtime?: string;
  note: string[];
}

const line = (e: CardEvaluation) =>
  e.age
    ? `${e.splitName}${e.adultsOnly ? ' (adults)' : ''}: MAE ${fmt(e.age.mae, 2)} years on ${e.n} images, RMSE ${fmt(e.age.rmse, 2)}, bias ${fmt(e.age.bias, 2)}` +
      (e.age.range ? `, range covers ${fmt(e.age.range.coverage * 100, 1)}%` : '')
    : `${e.splitName}${e.adultsOnly ? ' (adults)' : ''}: accuracy ${fmt(e.accuracy * 100, 2)}% on ${e.n} images, balanced ${fmt(e.balancedAccuracy * 100, 2)}%, macro F1 ${fmt(e.macroF1, 4)}`;

export function registerShip(program: Command): void {
  program
    .command('ship')
    .description(
      'turn a training run (or several, as an ensemble) into a shipped model folder: best weights, model.onnx, evaluation and a model card (JSON + Markdown)',
    )
    .argument('<run-dirs...>', 'training run directory (made by facecls train; only read); several make an ensemble averaging their probabilities')
    .requiredOption('-o, --output <dir>', 'model folder to write (e.g. models/emotion)')
    .option('--final', 'also evaluate the test split (FER-2013 PrivateTest / UTKFace test, all ages and adults): once, when training has ended', false)
    .option(
      '--tta <mode>',
      'test-time augmentation: none or flip; recorded in the model, so every runtime (pipeline, server, browser) applies it as evaluated',
      'none',
    )
    .option(
      '--balance [criterion]',
      "two-class models: fold in a logit offset chosen on the validation split (adults where ages are known): accuracy (the default) maximises balanced accuracy, parity equalises the two classes' recalls",
      false,
    )
    .option('-f, --force', 'replace an existing output folder', false)
    .option('--data <path>', "the run's dataset, if it moved since training (must still split as the run's split.json)")
    .option('--runtime <name>', RUNTIME_OPTION_HELP)
    .option(
      '--note <text>',
      'a note the model card states (repeatable), e.g. how an earlier model was compared',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--json', 'print the model card as JSON', false)
    .action(async (runDirs: string[], o: ShipCliOptions, cmd: Command) => {
      if (o.tta !== 'none' && o.tta !== 'flip') throw new UserError(`--tta must be none or flip, got "${o.tta}"`);
      const balance = o.balance === true ? 'accuracy' : o.balance || undefined;
      if (balance !== undefined && !(BALANCE_CRITERIA as readonly string[]).includes(balance))
        throw new UserError(`--balance must be ${BALANCE_CRITERIA.join(' or ')}, got "${balance}"`);
      let bar: ReturnType<typeof countProgress> | undefined;
      let current = '';
      let result;
      try {
        result = await shipRun(runDirs, o.output, {
          final: o.final,
          tta: o.tta,
          balance: balance as BalanceCriterion | undefined,
          force: o.force,
          notes: o.note,
          data: o.data,
          runtime: o.runtime,
          backend: cmd.optsWithGlobals().backend as string | undefined,
          onProgress: (what, done, total) => {
            if (what !== current) {
              bar?.stop();
              bar = countProgress(`evaluating ${what}`, total, !o.json);
              current = what;
            }
            bar!.update(done);
          },
        });
      } finally {
        bar?.stop();
      }
      const c = result.card;
      if (o.json) return printJson({ dir: result.dir, ...c });
      console.log(`shipped ${c.task} model (${c.architecture.arch}, ${c.architecture.params.toLocaleString('en-US')} parameters) to ${result.dir}`);
      for (const m of c.ensemble?.members ?? [c.training]) {
        console.log(
          `${c.ensemble ? `member ${m.runDir}: ` : `status: ${c.status}; `}best epoch ${m.bestEpoch} of ${m.epochsRun} run (${m.epochsPlanned} planned)`,
        );
      }
      if (c.ensemble) console.log(`status: ${c.status}`);
      for (const e of c.evaluation.val) console.log(line(e));
      if (Array.isArray(c.evaluation.test)) for (const e of c.evaluation.test) console.log(line(e));
      else console.log(c.evaluation.test.note);
      console.log(
        `files: model.json, ${c.files.weights.join(', ')}, ${c.files.onnx}, ${MODEL_CARD_JSON}, ${MODEL_CARD_MD} (TTA ${c.evaluation.tta}, runtime ${c.evaluation.runtime})`,
      );
    });
}
