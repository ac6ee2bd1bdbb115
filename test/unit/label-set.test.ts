// The label-set text format (line-numbered refusals, templates, comments, limits) and the scoring
// helpers: top_k by a bounded heap equals a full sort, softmax over the set equals clip-scores'.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zeroShotScores } from '../../src/models/clip-scores.js';
import { parseLabelSetText } from '../../src/models/label-set-file.js';
import { LabelSetGemm } from '../../src/models/label-set-gemm.js';
import { matVec, scoreLabelSet } from '../../src/models/label-set-scores.js';
import { topKIndices } from '../../src/models/top-k.js';
import seedrandom from 'seedrandom';

const LIMITS = { maxLabels: 5, maxLabelChars: 20, maxTemplates: 2, maxTemplateChars: 30 };

describe('label-set text format', () => {
  it('reads labels, templates and comments; a final newline is not an empty line', () => {
    const def = parseLabelSetText('\uFEFF# a comment\n#template: a photo of a {}.\nred circle\r\n#Template:a {}\nblue star\n', LIMITS);
    assert.deepEqual(def, { labels: ['red circle', 'blue star'], templates: ['a photo of a {}.', 'a {}'] });
  });

  it('refuses each bad line with its number', () => {
    const cases: [string, RegExp][] = [
      ['a\n\nb', /^line 2 is empty/],
      ['a\n   \n', /^line 2 is empty/],
      ['red circle\nb\nRED circle', /^line 3: label "RED circle" duplicates line 1/],
      ['a\nthis label is far too long', /^line 2: label is 26 characters long; the limit is 20/],
      ['#template: no slot\na', /^line 1: template "no slot" has no "\{\}"/],
      ['a\nb\nc\nd\ne\nf', /^line 6: more than 5 labels/],
      ['# only comments\n', /at least one label/],
      ['#template: {}\n#template: a {}\n#template: b {}\na', /too many templates: 3 given, the limit is 2/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseLabelSetText(text, LIMITS), (err: Error) => message.test(err.message), text);
  });
});

describe('label-set scoring', () => {
  it('topKIndices equals a stable full sort, ties by index', () => {
    const random = seedrandom('7');
    for (const n of [1, 5, 100, 1000]) {
      const values = Float32Array.from({ length: n }, () => Math.round(random() * 50) / 50);
      const sorted = [...values.keys()].sort((a, b) => values[b]! - values[a]! || a - b);
      for (const k of [1, 3, 10, n]) assert.deepEqual(topKIndices(values, k), sorted.slice(0, Math.min(k, n)));
    }
    assert.deepEqual(topKIndices(new Float32Array(3), 0), []);
  });

  it('matches zeroShotScores on the same unit vectors (softmax and calibrated sigmoid)', () => {
    const random = seedrandom('11');
    const width = 16;
    const unit = (): Float32Array => {
      const v = Float32Array.from({ length: width }, () => random() - 0.5);
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const rows = Array.from({ length: 40 }, unit);
    const matrix = new Float32Array(rows.length * width);
    rows.forEach((r, i) => matrix.set(r, i * width));
    const labels = rows.map((_, i) => `l${i}`);
    const image = unit();
    for (const multi of [false, true]) {
      const calibration = { scale: 12, bias: -3 };
      const want = zeroShotScores(image, rows, 30, multi, calibration);
      const got = scoreLabelSet({ labels, matrix, width }, image, 7, 30, multi, calibration);
      const order = [...want.scores.keys()].sort((a, b) => want.scores[b]! - want.scores[a]! || a - b).slice(0, 7);
      assert.deepEqual(got.map((g) => g.index), order);
      got.forEach((g) => assert.ok(Math.abs(g.score - want.scores[g.index]!) < 1e-6));
    }
  });

  it('the onnxruntime Gemm graph (written byte by byte) gives the JS loop\'s similarities, at two widths', async () => {
    const gemm = await LabelSetGemm.create();
    try {
      const random = seedrandom('3');
      for (const [n, width] of [[1000, 128], [7, 5]] as const) {
        const set = { labels: new Array<string>(n).fill(''), matrix: Float32Array.from({ length: n * width }, () => random() - 0.5), width };
        const image = Float32Array.from({ length: width }, () => random() - 0.5);
        const got = await gemm.similarities(set, image);
        const want = matVec(set, image);
        assert.equal(got.length, n);
        for (let i = 0; i < n; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `row ${i}: ${got[i]} vs ${want[i]}`);
      }
    } finally {
      await gemm.release();
    }
  });
});
