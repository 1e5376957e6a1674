/** Classification metrics from a confusion matrix: accuracy, per-class precision / recall / F1. */

export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** True samples of this class. */
  support: number;
  /** Samples predicted as this class. */
  predicted: number;
}

export interface Metrics {
  n: number;
  correct: number;
  accuracy: number;
  /** Mean per-class recall. */
  balancedAccuracy: number;
  macroF1: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  labels: string[];
}

export class Confusion {
  readonly matrix: number[][];
  constructor(readonly labels: string[]) {
    this.matrix = labels.map(() => labels.map(() => 0));
  }
  add(truth: number, predicted: number): void {
    this.matrix[truth][predicted]++;
  }
  get n(): number {
    return this.matrix.reduce((a, row) => a + row.reduce((b, v) => b + v, 0), 0);
  }
  metrics(): Metrics {
    return metricsFromConfusion(this.matrix, this.labels);
  }
}

/** Metrics for confusion[true][pred]. Precision of a never-predicted class is 0 (as scikit-learn's zero_division=0). */
export function metricsFromConfusion(confusion: number[][], labels: string[]): Metrics {
  const k = labels.length;
  let n = 0;
  let correct = 0;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    const tp = confusion[c][c];
    n += support;
    correct += tp;
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ label: labels[c], precision, recall, f1, support, predicted });
  }
  const present = perClass.filter((p) => p.support > 0);
  return {
    n,
    correct,
    accuracy: n ? correct / n : NaN,
    balancedAccuracy: present.length ? present.reduce((a, p) => a + p.recall, 0) / present.length : NaN,
    macroF1: present.length ? present.reduce((a, p) => a + p.f1, 0) / present.length : NaN,
    perClass,
    confusion: confusion.map((r) => [...r]),
    labels: [...labels],
  };
}

/** Index of the largest value in row r of a row-major [n, k] array. */
export function argmaxRow(p: Float32Array, r: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (p[r * k + j] > p[r * k + best]) best = j;
  return best;
}
