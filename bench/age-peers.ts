/**
 * Age estimation of facecls against its peers (@vladmandic/face-api and @vladmandic/human, bench/peers.ts)
 * on the UTKFace VALIDATION split, adults (age >= 18), each system run on each whole image as a user
 * would run it: detect, then estimate the age of the face found (the largest box when several are found;
 * none found = a miss). The split is the one the age model was trained with (its metadata: split seed
 * 1337, val 0.1, test 0.1, stratified by gender; src/data/utkface.ts); the test split is never read.
 *
 *   node dist/bench/age-peers.js [--age-model models/age] [--limit N] [--json]
 *
 * Per system: images, faces found (coverage), MAE over its own found faces; then, on the images where
 * every system found a face (the fair comparison), MAE, bias (mean of estimated minus true age) and MAE
 * per decade; and facecls against each peer alone on the images both found. --limit N scores a seeded random subsample of N images (seed 1).
 */
import * as path from 'node:path';
import { ageDecade } from '../src/data/age.js';
import { DEFAULT_SPLIT, type HashSplitOptions, type Sample } from '../src/data/dataset.js';
import { decodeImage } from '../src/data/decode.js';
import { datasetPath, projectRoot } from '../src/data/paths.js';
import type { Box, RawImage } from '../src/data/preprocess.js';
import { Rng } from '../src/data/rng.js';
import { isUtkFace, loadUtkFace } from '../src/data/utkface.js';
import { ADULT_AGE, adultsOnly } from '../src/eval/eval-samples.js';
import { trainingInfo } from '../src/eval/eval-models.js';
import { fmt, formatTable } from '../src/cli/output.js';
import { FaceClassifier } from '../src/pipeline/face-classifier.js';
import { arg, argOr, machineFacts } from './args.js';
import { loadFaceApi, loadHuman } from './peers.js';

/** A system under test: the age of the largest face it finds in an image, undefined when it finds none. */
interface System {
  name: string;
  ageOf(img: RawImage): Promise<number | undefined>;
}

/** One image: its true age and each system's estimate (absent = no face found) and milliseconds. */
interface Scored {
  file: string;
  truth: number;
  est: Record<string, number | undefined>;
  ms: Record<string, number>;
}

export interface SystemRow {
  system: string;
  images: number;
  found: number;
  coverage: number;
  maeFound: number;
  msPerImage: number;
  errors: number;
}

export interface CommonRow {
  system: string;
  n: number;
  mae: number;
  bias: number;
  decades: Record<string, { n: number; mae: number; bias: number }>;
}

/** facecls against one peer on the images where both found a face (larger than the all-systems set). */
export interface PairRow {
  peer: string;
  n: number;
  faceclsMae: number;
  peerMae: number;
  faceclsBias: number;
  peerBias: number;
}

export interface AgePeersResult {
  command: string;
  machine: { cpus: number; model: string; node: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  data: { root: string; split: 'val'; splitSeed: number; valFraction: number; testFraction: number; adults: number; scored: number; limit?: number };
  ageModel: string;
  systems: SystemRow[];
  common: { n: number; rows: CommonRow[] };
  pairs: PairRow[];
  seconds: number;
}

const DECADES = ['18-29', '30-39', '40-49', '50-59', '60-69', '70+'] as const;

/** The decade band of an adult's age as printed here (18 and 19 join the twenties). */
function adultDecade(age: number): string {
  return age < 30 ? '18-29' : ageDecade(age);
}

const area = (b: Box) => b[2] * b[3];

/** The face with the largest box among `faces`, or undefined. */
function largest<T extends { box: Box }>(faces: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const f of faces) if (!best || area(f.box) > area(best.box)) best = f;
  return best;
}

const loadAvg = () => machineFacts().loadAverage;

/** facecls as `facecls classify` runs it (detector, emotion + gender + age, the age model's flip TTA), and the peers. */
async function loadSystems(ageModel: string): Promise<{ fc: FaceClassifier; systems: System[] }> {
  const fc = await FaceClassifier.load({ ageModel });
  const systems: System[] = [{ name: 'facecls', ageOf: async (img) => largest(await fc.classify(img))?.age?.years }];
  for (const peer of [await loadFaceApi(), await loadHuman()]) systems.push({ name: peer.name, ageOf: async (img) => largest(await peer.full(img))?.age });
  return { fc, systems };
}

/** The validation adults of UTKFace, split as the age model was trained; a seeded subsample of `limit`. */
function valAdults(root: string, split: HashSplitOptions, limit: number | undefined): { adults: number; samples: Sample[] } {
  const ds = loadUtkFace(root, split, 'age');
  const adults = adultsOnly(ds.splits.val, ds);
  if (limit === undefined || limit >= adults.length) return { adults: adults.length, samples: adults };
  const picked = new Rng(1).shuffle([...adults]) as Sample[];
  return { adults: adults.length, samples: picked.slice(0, limit) };
}

/** Every system on every sample; errors count as misses (and are counted). */
async function scoreAll(samples: Sample[], systems: System[], errors: Record<string, number>): Promise<Scored[]> {
  const out: Scored[] = [];
  const t0 = Date.now();
  for (const s of samples) {
    const img = await decodeImage(s.file!);
    const row: Scored = { file: path.basename(s.file!), truth: s.meta!.age!, est: {}, ms: {} };
    for (const sys of systems) {
      const t = performance.now();
      try {
        row.est[sys.name] = await sys.ageOf(img);
      } catch (err) {
        errors[sys.name] = (errors[sys.name] ?? 0) + 1;
        if (errors[sys.name] <= 3) console.error(`${sys.name} failed on ${row.file}: ${(err as Error).message}`);
      }
      row.ms[sys.name] = performance.now() - t;
    }
    out.push(row);
    if (out.length % 100 === 0 || out.length === samples.length)
      console.error(`${out.length}/${samples.length} images, ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${loadAvg()[0]}`);
  }
  return out;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

function systemRow(name: string, rows: Scored[], errors: number): SystemRow {
  const found = rows.filter((r) => r.est[name] !== undefined);
  return {
    system: name,
    images: rows.length,
    found: found.length,
    coverage: rows.length ? found.length / rows.length : NaN,
    maeFound: mean(found.map((r) => Math.abs(r.est[name]! - r.truth))),
    msPerImage: mean(rows.map((r) => r.ms[name])),
    errors,
  };
}

function commonRow(name: string, common: Scored[]): CommonRow {
  const err = (r: Scored) => r.est[name]! - r.truth;
  const decades: CommonRow['decades'] = {};
  for (const d of DECADES) {
    const inD = common.filter((r) => adultDecade(r.truth) === d);
    decades[d] = { n: inD.length, mae: mean(inD.map((r) => Math.abs(err(r)))), bias: mean(inD.map(err)) };
  }
  return { system: name, n: common.length, mae: mean(common.map((r) => Math.abs(err(r)))), bias: mean(common.map(err)), decades };
}

function pairRow(a: string, b: string, rows: Scored[]): PairRow {
  const both = rows.filter((r) => r.est[a] !== undefined && r.est[b] !== undefined);
  const [ra, rb] = [commonRow(a, both), commonRow(b, both)];
  return { peer: b, n: both.length, faceclsMae: ra.mae, peerMae: rb.mae, faceclsBias: ra.bias, peerBias: rb.bias };
}

const signed = (x: number, digits: number) => (x >= 0 ? '+' : '') + fmt(x, digits);

function printPairs(pairs: PairRow[]): void {
  console.log('\nfacecls against each peer alone, on the images where both found a face (years):');
  console.log(
    formatTable(pairs, [
      { header: 'peer', value: (x) => x.peer },
      { header: 'n', value: (x) => x.n, align: 'right' },
      { header: 'facecls MAE', value: (x) => fmt(x.faceclsMae, 2), align: 'right' },
      { header: 'peer MAE', value: (x) => fmt(x.peerMae, 2), align: 'right' },
      { header: 'facecls bias', value: (x) => signed(x.faceclsBias, 2), align: 'right' },
      { header: 'peer bias', value: (x) => signed(x.peerBias, 2), align: 'right' },
    ]),
  );
}

function printResult(r: AgePeersResult): void {
  const m = r.machine;
  console.log(`command: ${r.command}`);
  console.log(
    `machine: ${m.cpus} x ${m.model}, node ${m.node}, load average ${m.loadAverageStart.join(' ')} at the start, ${m.loadAverageEnd.join(' ')} at the end (shared machine: other work running affects speed, not the estimates)`,
  );
  const d = r.data;
  console.log(
    `data: ${d.root}, validation split (seed ${d.splitSeed}, val ${d.valFraction}, test ${d.testFraction}, stratified by gender; test never read), adults (age >= ${ADULT_AGE}): ${d.scored} of ${d.adults} images${d.limit !== undefined ? ` (--limit ${d.limit}, seeded subsample)` : ''}`,
  );
  console.log(`facecls: ${r.ageModel} (with the default emotion and gender models, as \`facecls classify\`); peers on tfjs wasm; ${r.seconds.toFixed(0)} s`);
  console.log('\nper system, each whole image: detect, then the age of the largest face found (none found = miss):');
  console.log(
    formatTable(r.systems, [
      { header: 'system', value: (x) => x.system },
      { header: 'images', value: (x) => x.images, align: 'right' },
      { header: 'faces found', value: (x) => x.found, align: 'right' },
      { header: 'coverage', value: (x) => `${fmt(x.coverage * 100, 1)}%`, align: 'right' },
      { header: 'MAE (found)', value: (x) => fmt(x.maeFound, 2), align: 'right' },
      { header: 'ms/image', value: (x) => fmt(x.msPerImage, 0), align: 'right' },
      { header: 'errors', value: (x) => x.errors, align: 'right' },
    ]),
  );
  console.log(`\non the ${r.common.n} images where every system found a face: MAE, bias (estimated - true, mean) and MAE per decade (n; bias), years:`);
  const first = r.common.rows[0];
  const decadeHeader = (dec: string) => `${dec} (n ${first ? first.decades[dec].n : 0})`;
  console.log(
    formatTable(r.common.rows, [
      { header: 'system', value: (x) => x.system },
      { header: 'n', value: (x) => x.n, align: 'right' },
      { header: 'MAE', value: (x) => fmt(x.mae, 2), align: 'right' },
      { header: 'bias', value: (x) => signed(x.bias, 2), align: 'right' },
      ...DECADES.map((dec) => ({
        header: decadeHeader(dec),
        value: (x: CommonRow) => `${fmt(x.decades[dec].mae, 2)} (${signed(x.decades[dec].bias, 1)})`,
        align: 'right' as const,
      })),
    ]),
  );
  printPairs(r.pairs);
}

async function main(): Promise<void> {
  const root = datasetPath('utkface');
  if (!isUtkFace(root)) {
    console.log(`age-peers: skipped, no UTKFace images at ${root}`);
    return;
  }
  const t0 = Date.now();
  const loadAverageStart = loadAvg();
  const ageModel = path.resolve(argOr('--age-model', path.join(projectRoot(), 'models', 'age')));
  const limit = arg('--limit') !== undefined ? Number(arg('--limit')) : undefined;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit must be a positive integer, got "${arg('--limit')}"`);
  const { fc, systems } = await loadSystems(ageModel);
  const info = trainingInfo(fc.age!.meta);
  const split = { seed: info.splitSeed ?? DEFAULT_SPLIT.seed, val: info.valFraction ?? DEFAULT_SPLIT.val, test: info.testFraction ?? DEFAULT_SPLIT.test };
  const { adults, samples } = valAdults(root, split, limit);
  const errors: Record<string, number> = {};
  const rows = await scoreAll(samples, systems, errors);
  await fc.dispose();
  const common = rows.filter((r) => systems.every((s) => r.est[s.name] !== undefined));
  const { loadAverage: loadAverageEnd, ...host } = machineFacts();
  const result: AgePeersResult = {
    command: `node ${path.relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { ...host, loadAverageStart, loadAverageEnd },
    data: {
      root,
      split: 'val',
      splitSeed: split.seed,
      valFraction: split.val,
      testFraction: split.test,
      adults,
      scored: samples.length,
      ...(limit ? { limit } : {}),
    },
    ageModel: path.relative(projectRoot(), ageModel) || ageModel,
    systems: systems.map((s) => systemRow(s.name, rows, errors[s.name] ?? 0)),
    common: { n: common.length, rows: systems.map((s) => commonRow(s.name, common)) },
    pairs: systems.slice(1).map((s) => pairRow(systems[0].name, s.name, rows)),
    seconds: (Date.now() - t0) / 1000,
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else printResult(result);
}

await main();
