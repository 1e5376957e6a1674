/**
 * The Markdown rendering of a model card (MODEL_CARD.md): a summary table, the data and its split, how
 * each model was trained (the command that repeats it), calibration, the evaluations and the files.
 */
import { ageMarkdown } from './age-card.js';
import { evalTitle, MODEL_CARD_JSON, pct, type CardEvaluation, type ModelCard } from './model-card.js';

function mdTable(head: string[], rows: Array<Array<string | number>>, right: boolean[] = []): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (right[i] ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function evalMarkdown(e: CardEvaluation): string[] {
  const lines = [`### ${evalTitle(e)}`, ''];
  if (e.age) return [...lines, ...ageMarkdown(e.age, e.skipped, e.split, e.adultsOnly)];
  lines.push(
    `Accuracy **${pct(e.accuracy)}** on ${e.n} images; balanced accuracy ${pct(e.balancedAccuracy)}; macro F1 ${e.macroF1.toFixed(4)}${e.skipped ? `; ${e.skipped} unreadable images skipped` : ''}.`,
    '',
  );
  lines.push(
    ...mdTable(
      ['class', 'precision', 'recall', 'F1', 'support'],
      e.perClass.map((c) => [c.label, c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), c.support]),
      [false, true, true, true, true],
    ),
    '',
  );
  lines.push('Confusion matrix (rows = true class, columns = predicted):', '');
  lines.push(
    ...mdTable(
      ['true \\ predicted', ...e.labels],
      e.confusion.map((row, i) => [e.labels[i], ...row]),
      [false, ...e.labels.map(() => true)],
    ),
    '',
  );
  for (const [name, rows] of [
    ['gender', e.groups.gender],
    ['age band', e.groups.ageBand],
    ['ethnic group', e.groups.race],
  ] as const) {
    if (!rows?.length) continue;
    lines.push(
      ...mdTable(
        [name, 'accuracy', 'correct', 'n'],
        rows.map((g) => [g.value, pct(g.accuracy), g.correct, g.n]),
        [false, true, true, true],
      ),
      '',
    );
  }
  return lines;
}

/** "k v, k v" of a count table. */
const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** Title, status, provenance and the summary table. */
function summaryMarkdown(c: ModelCard): string[] {
  const a = c.architecture;
  // Only a run still training has better weights to come; a finished one shipped without --final lacks only the test figures.
  const inProgress = c.status.startsWith('interim: training in progress');
  const best = c.task === 'age' ? 'validation MAE' : 'validation loss';
  const runs = c.ensemble ? `s ${c.ensemble.members.map((m) => `\`${m.runDir}\``).join(', ')} (an ensemble)` : ` \`${c.training.runDir}\``;
  return [
    `# Model card: ${c.name} (${c.task})`,
    '',
    `**Status: ${c.status}.**${inProgress ? ` The weights are the best so far by ${best}; they will be replaced when training ends.` : ''}`,
    '',
    `Shipped by \`facecls ship\` on ${c.shippedAt} from the training run${runs}.`,
    '',
    ...mdTable(
      ['', ''],
      [
        [
          'Task',
          c.task === 'age'
            ? `age: probabilities over the anchor ages ${c.labels.join(', ')} (output order); the estimate is their expectation (src/data/age.ts)`
            : `${c.task}: ${c.labels.join(', ')} (output order)`,
        ],
        ['Architecture', a.arch],
        ['Parameters', `${a.params.toLocaleString('en-US')} (${a.trainableParams.toLocaleString('en-US')} trainable)`],
        ['Multiply-accumulates per image', a.macs.toLocaleString('en-US')],
        ['Weights', `${(a.weightBytes / 1024).toFixed(1)} KiB (float32); ONNX: ${c.files.onnx}`],
        ['Input', `${c.input.size}x${c.input.size}x${c.input.channels} (${c.input.colorSpace}), scaled to [${c.input.range.join(', ')}]`],
        ['Preprocessing', `${c.input.preprocess}; crop margin ${c.input.cropMargin} per side`],
      ],
    ),
    '',
  ];
}

function dataMarkdown(c: ModelCard): string[] {
  const d = c.data;
  const L = ['## Data and split', ''];
  if (d.sources?.length) {
    L.push(`- Datasets (trained on at once; validation per dataset, the best epoch chosen by the mean of their validation losses):`);
    for (const s of d.sources) L.push(`  - ${s.name}: ${s.format} at \`${s.root}\`, sampling weight ${s.weight}; ${s.splitMethod}; ${counts(s.counts)}`);
  } else L.push(`- Dataset: ${d.format} at \`${d.root}\``);
  L.push(`- Split: ${d.splitMethod}${d.seed !== undefined && !d.splitMethod.includes('seed') ? ` (seed ${d.seed})` : ''}`);
  L.push(`- Counts: ${counts(d.counts)}${d.trainLimit !== undefined ? ` (training used a seeded subset of ${d.trainLimit})` : ''}`);
  L.push(`- Training images per ${c.task === 'age' ? 'nearest anchor age' : 'class'}: ${counts(d.trainClassCounts)}`);
  L.push(`- Model selection: ${d.selection}`);
  L.push(`- Test: ${d.test}`, '');
  return L;
}

/** The command, epochs and time of the run, or of each ensemble member. */
function trainingMarkdown(c: ModelCard): string[] {
  const members = c.ensemble?.members ?? [c.training];
  const L = ['## Training', ''];
  if (c.ensemble)
    L.push(
      `An ensemble of ${members.length} separately trained models: ${c.ensemble.combine}. Each member, run from the project root (paths in this card are relative to it):`,
      '',
    );
  else L.push('Run from the project root (paths in this card are relative to it):', '');
  for (const [i, m] of members.entries()) {
    if (c.ensemble) L.push(`### Member ${i + 1}: \`${m.runDir}\``, '');
    L.push('```sh', m.command, '```', '');
    L.push(`- ${m.resumeNote}`);
    L.push(
      `- Epochs: ${m.epochsRun} run of ${m.epochsPlanned} planned${m.stopReason ? ` (stopped: ${m.stopReason})` : ''}; best epoch ${m.bestEpoch} (validation loss ${m.bestValLoss.toFixed(4)}, ${m.bestValMae !== undefined ? `MAE ${m.bestValMae.toFixed(3)} years` : `accuracy ${pct(m.bestValAccuracy)}`})`,
    );
    L.push(`- Wall time: ${(m.wallSeconds / 3600).toFixed(2)} h (${m.wallSeconds.toFixed(0)} s, sum of the epoch times in log.csv)`);
    if (c.ensemble) L.push('');
  }
  return L;
}

function calibrationMarkdown(c: ModelCard): string[] {
  const k = c.calibration;
  if (!k) return [];
  const rec = (r: number[]) => r.map((x, i) => `${c.labels[i]} ${pct(x)}`).join(', ');
  return [
    ...(c.ensemble ? ['### Calibration of the ensemble', ''] : []),
    `- Calibration (\`facecls ship --balance ${k.criterion ?? 'accuracy'}\`): ${k.method}, chosen on the ${k.split}: logit offsets ${k.offsets.map((x) => x.toFixed(2)).join(' / ')} ` +
      `(folded into the last convolution's bias${c.ensemble ? ' of every member' : ''}). On that split: recalls ${rec(k.before.recalls)} before, ${rec(k.after.recalls)} after; ` +
      `accuracy ${pct(k.before.accuracy)} -> ${pct(k.after.accuracy)}. Validation figures below are therefore optimistic; the test split was not used.`,
  ];
}

function evaluationMarkdown(c: ModelCard): string[] {
  const L = [
    '## Evaluation',
    '',
    `Runtime ${c.evaluation.runtime}, test-time augmentation: ${c.evaluation.tta === 'flip' ? 'horizontal flip (average of the image and its mirror)' : 'none'}. Every image goes through the same \`preprocessFace\` as training and the pipeline.`,
    '',
  ];
  for (const e of c.evaluation.val) L.push(...evalMarkdown(e));
  if (Array.isArray(c.evaluation.test)) for (const e of c.evaluation.test) L.push(...evalMarkdown(e));
  else L.push('### Test split', '', `**${c.evaluation.test.note}**`, '');
  return L;
}

function filesMarkdown(c: ModelCard): string[] {
  return [
    '## Files',
    '',
    `- \`${c.files.model}\` + ${c.files.weights.map((w) => `\`${w}\``).join(', ')}: tfjs-layers model with facecls metadata`,
    `- \`${c.files.onnx}\`: ONNX export of exactly those weights (source SHA-256 ${c.files.sourceSha256}), used by the onnx runtime while it matches`,
    `- \`${MODEL_CARD_JSON}\`: this card as JSON`,
    '',
  ];
}

export function modelCardMarkdown(c: ModelCard): string {
  return [
    ...summaryMarkdown(c),
    ...(c.notes?.length ? ['## Notes', '', ...c.notes.map((n) => `- ${n}`), ''] : []),
    ...dataMarkdown(c),
    ...trainingMarkdown(c),
    ...calibrationMarkdown(c),
    '',
    ...evaluationMarkdown(c),
    '## Known limitations and biases',
    '',
    ...c.limitations.map((l) => `- ${l}`),
    '',
    ...filesMarkdown(c),
  ].join('\n');
}
