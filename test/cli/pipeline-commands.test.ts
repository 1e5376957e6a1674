import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { datasetPath, projectRoot } from '../../src/data/paths.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { encoder, frame, pngBomb, randomModels, utkSkip } from '../pipeline/fixtures.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;

async function modelArgs(): Promise<string[]> {
  const m = await randomModels();
  return ['--emotion-model', m.emotion, '--gender-model', m.gender];
}

test('classify: JSON Lines per file, per-file errors, batch continues, exit code 1', { skip: utkSkip() }, async () => {
  const dir = tmpDir();
  const f = await frame(2, 31);
  await encoder(f.image).jpeg().toFile(path.join(dir, 'a.jpg'));
  fs.mkdirSync(path.join(dir, 'sub'));
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#345' } })
    .png()
    .toFile(path.join(dir, 'sub', 'noface.png'));
  fs.writeFileSync(path.join(dir, 'zero.jpg'), '');
  fs.writeFileSync(path.join(dir, 'notes.png'), 'plain text');
  fs.writeFileSync(path.join(dir, 'bomb.png'), pngBomb());
  const args = ['classify', '--json', ...(await modelArgs())];
  const r = runCli([...args, dir, path.join(dir, 'missing.jpg')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /4 of 6 input\(s\) failed/);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const by = Object.fromEntries(lines.map((l) => [path.basename(String(l.file)), l]));
  assert.deepEqual(Object.keys(by).sort(), ['a.jpg', 'bomb.png', 'missing.jpg', 'noface.png', 'notes.png', 'zero.jpg']);
  const a = by['a.jpg'] as { width: number; height: number; faces: Array<Record<string, unknown>> };
  assert.deepEqual([a.width, a.height, a.faces.length], [640, 480, 2]);
  assert.deepEqual(Object.keys(a.faces[0]), ['box', 'score', 'keypoints', 'emotion', 'gender', 'age']);
  assert.deepEqual(by['noface.png'], { file: path.join(dir, 'sub', 'noface.png'), width: 64, height: 48, faces: [] });
  assert.match(String(by['zero.jpg'].error), /empty file/);
  assert.match(String(by['notes.png'].error), /not an image/);
  assert.match(String(by['bomb.png'].error), /pixel limit/);
  assert.match(String(by['missing.jpg'].error), /no such file/);

  // Glob, CSV and --crops.
  const csv = runCli(['classify', '--csv', ...(await modelArgs()), path.join(dir, '*.jpg')]);
  assert.equal(csv.code, 1, 'zero.jpg matches the glob and fails');
  const rows = csv.stdout.trim().split('\n');
  assert.match(
    rows[0],
    /^file,width,height,face,x,y,w,h,score,emotion,angry,disgust,fear,happy,sad,surprise,neutral,gender,woman,man,error,age_years,age_lo,age_hi$/,
  );
  assert.equal(rows.filter((l) => l.includes('a.jpg')).length, 2);
  assert.equal(rows[0].split(',').length, rows[1].split(',').length);
  const crops = runCli(['classify', '--json', '--crops', ...(await modelArgs()), path.join(dir, 'sub', 'noface.png')]);
  assert.equal(crops.code, 0, crops.stderr);
  assert.deepEqual(JSON.parse(crops.stdout).faces[0].box, [0, 0, 64, 48]);
  const table = runCli(['classify', '--detector', 'haar', ...(await modelArgs()), path.join(dir, 'a.jpg')]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /file\s+face\s+box\s+score\s+emotion\s+gender\s+age\n/);
  assert.match(table.stdout, /\s\d+ \(\d+-\d+\)\n/, 'the age column: years (lo-hi)');
});

test('classify --json / --csv with and without --no-age: the age object, the age columns last, earlier columns unchanged', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'crop.png');
  await sharp({ create: { width: 96, height: 96, channels: 3, background: '#8a6f5c' } })
    .png()
    .toFile(file);
  // A face crop classified whole: no detector involved, so no dataset is needed.
  const args = ['--crops', '--crop-framing', 'whole', ...(await modelArgs()), file];
  const withAge = runCli(['classify', '--json', ...args]);
  assert.equal(withAge.code, 0, withAge.stderr);
  const face = (JSON.parse(withAge.stdout) as { faces: Array<Record<string, unknown>> }).faces[0];
  assert.deepEqual(Object.keys(face), ['box', 'score', 'emotion', 'gender', 'age']);
  const age = face.age as { years: number; range: [number, number] };
  assert.deepEqual(Object.keys(age), ['years', 'range']);
  assert.ok(age.years >= 1 && age.years <= 90 && age.range[0] <= age.years && age.years <= age.range[1], JSON.stringify(age));
  const noAge = runCli(['classify', '--json', '--no-age', ...args]);
  assert.equal(noAge.code, 0, noAge.stderr);
  const plain = (JSON.parse(noAge.stdout) as { faces: Array<Record<string, unknown>> }).faces[0];
  assert.deepEqual(plain, { box: face.box, score: face.score, emotion: face.emotion, gender: face.gender }, 'the other fields are unchanged');

  const csv = runCli(['classify', '--csv', ...args])
    .stdout.trim()
    .split('\n');
  const csvNoAge = runCli(['classify', '--csv', '--no-age', ...args])
    .stdout.trim()
    .split('\n');
  assert.match(csvNoAge[0], /,gender,woman,man,error$/);
  assert.equal(csv[0], csvNoAge[0] + ',age_years,age_lo,age_hi');
  assert.equal(csv[1], `${csvNoAge[1]},${age.years},${age.range[0]},${age.range[1]}`);
  // The table shows "years (lo-hi)"; --no-age drops the column.
  assert.match(runCli(['classify', ...args]).stdout, new RegExp(`\\s${Math.round(age.years)} \\(${age.range[0]}-${age.range[1]}\\)\\n`));
  assert.doesNotMatch(runCli(['classify', '--no-age', ...args]).stdout, /\bage\b/);
  // --accurate: no models/age-accurate is shipped, so the fast age model runs, said once on stderr.
  const accurate = runCli(['classify', '--json', '--accurate', ...args]);
  assert.equal(accurate.code, 0, accurate.stderr);
  assert.equal(accurate.stderr, 'facecls: no accurate age model is shipped: --accurate uses models/age\n');
  assert.deepEqual((JSON.parse(accurate.stdout) as { faces: Array<{ age: unknown }> }).faces[0].age, age);
  assert.equal(runCli(['classify', '--json', '--accurate', '--no-age', ...args]).stderr, '', 'nothing to say without the age task');
  // --age-model names the model; a missing one is an error naming it.
  const missing = runCli(['classify', '--json', '--age-model', path.join(dir, 'nope'), ...args]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no age model at ".*nope"/);
});

test('detection alone: facecls detect and classify --no-emotion --no-gender --no-age give boxes, scores and keypoints', { skip: utkSkip() }, async () => {
  const dir = tmpDir();
  const f = await frame(2, 777, 90, 160);
  const file = path.join(dir, 'two.jpg');
  await encoder(f.image).jpeg({ quality: 92 }).toFile(file);
  const det = runCli(['detect', '--json', file]);
  assert.equal(det.code, 0, det.stderr);
  const a = JSON.parse(det.stdout) as { faces: Array<{ box: number[]; score: number; keypoints: Record<string, number[]>; emotion?: unknown }> };
  assert.equal(a.faces.length, 2);
  for (const face of a.faces) {
    assert.equal(face.emotion, undefined);
    assert.deepEqual(Object.keys(face.keypoints), ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar']);
  }
  const cls = runCli(['classify', '--no-emotion', '--no-gender', '--no-age', '--json', file]);
  assert.equal(cls.code, 0, cls.stderr);
  assert.deepEqual(JSON.parse(cls.stdout), JSON.parse(det.stdout));
  const csv = runCli(['detect', '--csv', file]).stdout.trim().split('\n');
  assert.equal(csv.length, 3);
  assert.match(csv[0], /,score,emotion,gender,right_eye_x,right_eye_y,left_eye_x,.*,left_ear_y,error$/);
  const table = runCli(['detect', file]);
  assert.match(table.stdout, /eyes \(right, left\)/);
  const crops = runCli(['classify', '--crops', '--no-emotion', '--no-gender', '--no-age', file]);
  assert.equal(crops.code, 1);
  assert.match(crops.stderr, /^facecls: error: --crops with --no-emotion --no-gender --no-age leaves nothing to do/);
  // Age alone is a classification, not detection only.
  const ageOnly = JSON.parse(runCli(['classify', '--no-emotion', '--no-gender', '--json', file]).stdout) as { faces: Array<Record<string, unknown>> };
  assert.deepEqual(Object.keys(ageOnly.faces[0]), ['box', 'score', 'keypoints', 'age']);
});

test('facecls eval detect on a WIDER FACE layout and an FDDB layout built from composed frames', { skip: utkSkip() }, async () => {
  const dir = tmpDir();
  const wider = path.join(dir, 'wider');
  fs.mkdirSync(path.join(wider, 'images', 'ev'), { recursive: true });
  const fddb = path.join(dir, 'fddb');
  fs.mkdirSync(path.join(fddb, 'originalPics', 'p'), { recursive: true });
  let csv = 'image,x,y,w,h,blur,expression,illumination,invalid,occlusion,pose,easy,medium,hard\n';
  let ellipses = '';
  for (let i = 0; i < 3; i++) {
    const f = await frame(1 + i, 880 + i, 80, 160);
    await encoder(f.image)
      .jpeg({ quality: 92 })
      .toFile(path.join(wider, 'images', 'ev', `${i}.jpg`));
    await encoder(f.image)
      .jpeg({ quality: 92 })
      .toFile(path.join(fddb, 'originalPics', 'p', `${i}.jpg`));
    ellipses += `p/${i}\n${f.faces.length}\n`;
    for (const [x, y, w, h] of f.faces) {
      csv += `ev/${i}.jpg,${x},${y},${w},${h},0,0,0,0,0,0,1,1,1\n`;
      ellipses += `${h / 2} ${w / 2} ${Math.PI / 2} ${x + w / 2} ${y + h / 2} 1\n`;
    }
  }
  csv += 'ev/none.jpg,,,,,,,,,,,,,\n';
  await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3a5' } })
    .jpeg()
    .toFile(path.join(wider, 'images', 'ev', 'none.jpg'));
  fs.writeFileSync(path.join(wider, 'boxes.csv'), csv);
  fs.writeFileSync(path.join(fddb, 'FDDB-fold-01-ellipseList.txt'), ellipses);
  const out = path.join(dir, 'out');
  const r = runCli(['eval', 'detect', '--data', wider, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as {
    images: number;
    faces: number;
    subsets: Array<{ subset: string; ap: number; atThreshold: { recall: number; precision: number } }>;
    msPerImage: { mean: number };
  };
  assert.equal(rep.images, 4);
  assert.equal(rep.faces, 6);
  assert.deepEqual(
    rep.subsets.map((s) => s.subset),
    ['easy', 'medium', 'hard'],
  );
  // Truth here is the pasted chip's square, which BlazeFace's box (brows-to-chin, extended to the
  // forehead) overlaps by IoU 0.5-0.85: one of the six sits just under 0.5.
  for (const s of rep.subsets) assert.ok(s.ap >= 0.6 && s.atThreshold.recall >= 0.8, `${s.subset}: AP ${s.ap}, recall ${s.atThreshold.recall}`);
  const loose = JSON.parse(runCli(['eval', 'detect', '--data', wider, '--iou', '0.4', '--limit', '3', '--json']).stdout) as typeof rep;
  assert.equal(loose.images, 3);
  for (const s of loose.subsets) assert.ok(s.ap >= 0.95 && s.atThreshold.recall === 1, `IoU 0.4 ${s.subset}: AP ${s.ap}`);
  assert.ok(rep.msPerImage.mean > 0);
  assert.equal((await sharp(path.join(out, 'pr.png')).metadata()).format, 'png');
  assert.ok(fs.existsSync(path.join(out, 'report.json')) && fs.existsSync(path.join(out, 'report.txt')));
  const f = runCli(['eval', 'detect', '--data', fddb, '--at-recall', '0.5']);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /on fddb .*\n3 images, 6 faces/);
  assert.match(f.stdout, /^all\s+6\s+0\.\d{3}/m);
  for (const [args, msg] of [
    [['eval', 'detect', '--data', path.join(dir, 'nope')], /no detection data at/],
    [['eval', 'detect', '--data', dir], /neither a WIDER FACE set/],
    [['eval', 'detect', '--data', wider, '--detector', 'yolo'], /unknown detector "yolo"/],
    [['eval', 'detect', '--data', wider, '--tiles', 'maybe'], /--tiles must be/],
    [['eval', 'emotion', '--data', wider], /eval emotion needs --model/],
  ] as const) {
    const e = runCli([...args]);
    assert.equal(e.code, 1, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, msg);
  }
});

test('classify/annotate option errors are one-line user errors', async () => {
  for (const args of [
    ['classify', '--detector', 'yolo', 'x.jpg'],
    ['classify', '--emotion-model', '/nonexistent', 'x.jpg'],
    ['classify', '--json', '--csv', 'x.jpg'],
    ['annotate', 'x.jpg', '-o', 'out.jpg'],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^facecls: error: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('annotate -o to an unwritable place (/proc, a directory named .png): one-line error, exit 1, no temp file left', async () => {
  const dir = tmpDir();
  const input = path.join(dir, 'in.png');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#777' } })
    .png()
    .toFile(input);
  fs.mkdirSync(path.join(dir, 'out.png'));
  const targets: Array<[string, RegExp]> = [[path.join(dir, 'out.png'), /is a directory/]];
  if (fs.existsSync('/proc/self')) targets.push(['/proc/x.png', /cannot write "\/proc\/x\.png"/]);
  for (const [out, why] of targets) {
    const r = runCli(['annotate', input, '-o', out, ...(await modelArgs())]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^facecls: error: cannot write "[^\n]*\n$/);
    assert.match(r.stderr, why);
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['in.png', 'out.png']);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out.png')), []);
  assert.ok(!fs.readdirSync('/proc').some((f) => f.endsWith('.tmp')));
});

test('annotate writes a PNG of the same size', { skip: utkSkip() }, async () => {
  const dir = tmpDir();
  const f = await frame(1, 32);
  const input = path.join(dir, 'in.jpg');
  await encoder(f.image).jpeg().toFile(input);
  const out = path.join(dir, 'out.png');
  const r = runCli(['annotate', input, '-o', out, '--json', ...(await modelArgs())]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).faces.length, 1);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 640, 480]);
});

test(
  'video round trip through ffmpeg: annotated video with audio, JSON lines with tracks; broken stream keeps output valid',
  { skip: utkSkip() || (!hasFfmpeg && 'ffmpeg not installed') },
  async () => {
    const dir = tmpDir();
    const f = await frame(2, 21, 90, 150);
    for (let k = 0; k < 10; k++) {
      const d = new Uint8Array(f.image.data.length);
      for (let y = 0; y < 480; y++) d.set(f.image.data.subarray(y * 640 * 3, (y * 640 + 640 - 3 * k) * 3), (y * 640 + 3 * k) * 3);
      await encoder({ ...f.image, data: d })
        .png()
        .toFile(path.join(dir, `f${k}.png`));
    }
    const clip = path.join(dir, 'clip.ts');
    const mk = spawnSync(
      'ffmpeg',
      [
        '-v',
        'error',
        '-framerate',
        '5',
        '-i',
        path.join(dir, 'f%d.png'),
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:duration=2',
        '-shortest',
        '-c:v',
        'libx264',
        '-g',
        '2',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
        clip,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(mk.status, 0, mk.stderr);
    const out = path.join(dir, 'out.mp4');
    const jsonl = path.join(dir, 'frames.jsonl');
    const r = runCli(['video', clip, '-o', out, '--jsonl', jsonl, '--smooth', '3', '--no-progress', ...(await modelArgs())]);
    assert.equal(r.code, 0, r.stderr);
    const frames = fs
      .readFileSync(jsonl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { frame: number; time: number; faces: Array<{ track: number }> });
    assert.equal(frames.length, 10);
    assert.deepEqual(
      frames.map((x) => x.frame),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(frames[5].time, 1);
    assert.deepEqual(new Set(frames.flatMap((x) => x.faces.map((y) => y.track))), new Set([1, 2]), 'two faces, two tracks throughout');
    const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames,width,height', '-of', 'json', out], {
      encoding: 'utf8',
    });
    const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; nb_read_frames: string; width?: number }> }).streams;
    const video = streams.find((s) => s.codec_type === 'video')!;
    assert.equal(Number(video.nb_read_frames), 10);
    assert.equal(video.width, 640);
    assert.ok(
      streams.some((s) => s.codec_type === 'audio'),
      'audio kept',
    );

    // A stream cut in the middle: clear message, exit 1, what was written stays valid.
    const broken = path.join(dir, 'broken.ts');
    const bytes = fs.readFileSync(clip);
    fs.writeFileSync(broken, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const out2 = path.join(dir, 'out2.mp4');
    const jsonl2 = path.join(dir, 'frames2.jsonl');
    const b = runCli(['video', broken, '-o', out2, '--jsonl', jsonl2, '--no-progress', ...(await modelArgs())]);
    const lines = fs.readFileSync(jsonl2, 'utf8').split('\n').filter(Boolean);
    lines.forEach((l) => JSON.parse(l));
    const probe2 = spawnSync(
      'ffprobe',
      ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', out2],
      { encoding: 'utf8' },
    );
    assert.equal(probe2.status, 0, `output video is valid: ${probe2.stderr}`);
    assert.equal(Number(probe2.stdout.trim()), lines.length, 'video and JSON lines hold the same frames');
    if (b.code === 0) assert.ok(lines.length < 10, 'a cut stream ends early');
    else {
      assert.equal(b.code, 1, b.stderr);
      assert.match(b.stderr, /facecls: error: video ".*broken\.ts": stream broken after \d+ frame\(s\)/);
    }

    const missing = runCli(['video', path.join(dir, 'nope.mp4'), '-o', out2, ...(await modelArgs())]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /video ".*nope\.mp4" does not exist/);
    const notVideo = path.join(dir, 'text.mp4');
    fs.writeFileSync(notVideo, 'not a video');
    const nv = runCli(['video', notVideo, '--jsonl', '-', ...(await modelArgs())]);
    assert.equal(nv.code, 1);
    assert.match(nv.stderr, /cannot read video ".*text\.mp4"/);
  },
);

test('webcam without a camera: a clear error', async () => {
  const r = runCli(['webcam', '--device', '/dev/video-none', ...(await modelArgs())]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^facecls: error: no camera at \/dev\/video-none/);
});

const ferDir = datasetPath('fer2013');
test(
  'classify --crops on FER-2013 faces gives the accuracy and confusion matrix of facecls eval',
  { skip: !fs.existsSync(ferDir) && `FER-2013 not found at ${ferDir}: skipped` },
  async () => {
    const dir = tmpDir();
    const labels = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
    for (const c of labels) {
      for (const split of ['test', 'train']) {
        fs.mkdirSync(path.join(dir, split, c), { recursive: true });
        const prefix = split === 'test' ? 'PrivateTest_' : 'Training_';
        const files = fs
          .readdirSync(path.join(ferDir, split, c))
          .filter((f) => f.startsWith(prefix))
          .sort()
          .slice(0, split === 'test' ? 5 : 1);
        for (const f of files) fs.copyFileSync(path.join(ferDir, split, c, f), path.join(dir, split, c, f));
      }
    }
    const m = await randomModels();
    const ev = runCli(['eval', 'emotion', '--model', m.emotion, '--data', dir, '--split', 'test', '--json', '--batch-size', '1']);
    assert.equal(ev.code, 0, ev.stderr);
    const report = JSON.parse(ev.stdout) as { metrics: { n: number; accuracy: number; confusion: number[][] } };
    // eval frames each dataset image as training did (whole); classify --crops does the same with --crop-framing whole.
    const cl = runCli(['classify', '--crops', '--crop-framing', 'whole', '--json', '--no-gender', '--emotion-model', m.emotion, path.join(dir, 'test')]);
    assert.equal(cl.code, 0, cl.stderr);
    const confusion = labels.map(() => labels.map(() => 0));
    let correct = 0;
    const rows = cl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; faces: Array<{ emotion: { label: string } }> });
    for (const r of rows) {
      const truth = path.basename(path.dirname(r.file));
      const pred = r.faces[0].emotion.label;
      confusion[labels.indexOf(truth)][labels.indexOf(pred)]++;
      if (truth === pred) correct++;
    }
    assert.equal(rows.length, report.metrics.n);
    assert.equal(correct / rows.length, report.metrics.accuracy);
    assert.deepEqual(confusion, report.metrics.confusion);

    // The shipped model records flip TTA: the pipeline applies it exactly as eval does (its default),
    // and --tta none turns it off in both; the two settings give different probabilities.
    const shipped = path.join(projectRoot(), 'models', 'emotion');
    const scores: Record<string, number[][]> = {};
    for (const tta of [[], ['--tta', 'none']]) {
      const e = runCli(['eval', 'emotion', '--model', shipped, '--data', dir, '--split', 'test', '--json', ...tta]);
      assert.equal(e.code, 0, e.stderr);
      const rep = JSON.parse(e.stdout) as { tta: string; metrics: { confusion: number[][] } };
      assert.equal(rep.tta, tta.length ? 'none' : 'flip');
      const c = runCli(['classify', '--crops', '--crop-framing', 'whole', '--json', '--no-gender', ...tta, path.join(dir, 'test')]);
      assert.equal(c.code, 0, c.stderr);
      const got = labels.map(() => labels.map(() => 0));
      const parsed = c.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { file: string; faces: Array<{ emotion: { label: string; scores: Record<string, number> } }> });
      for (const r of parsed) got[labels.indexOf(path.basename(path.dirname(r.file)))][labels.indexOf(r.faces[0].emotion.label)]++;
      assert.deepEqual(got, rep.metrics.confusion, `classify --crops ${tta.join(' ')} vs eval`);
      scores[rep.tta] = parsed.map((r) => labels.map((l) => r.faces[0].emotion.scores[l]));
    }
    assert.notDeepEqual(scores.flip, scores.none);
    const bad = runCli(['classify', '--crops', '--tta', 'rotate', path.join(dir, 'test')]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      "facecls: error: option '--tta <mode>' argument 'rotate' is invalid. Allowed choices are none, flip.\n(add --help for the options)\n",
    );
  },
);
