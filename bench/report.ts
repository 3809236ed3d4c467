/** One benchmark figure, printed as a JSON line: `{"metric","value","unit","baseline","ratio"}`. */
export interface Figure {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** The same measurement for the baseline run side by side, when there is one. */
  readonly baseline: number | null;
  /** baseline / value for "lower is better" metrics (how many times better ours is). */
  readonly ratio: number | null;
}

/** Prints a figure as one JSON line on stdout. */
export function report(metric: string, value: number, unit: string, baseline: number | null = null): Figure {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const figure: Figure = {
    metric,
    value: round(value),
    unit,
    baseline: baseline === null ? null : round(baseline),
    ratio: baseline === null || value === 0 ? null : round(baseline / value),
  };
  process.stdout.write(`${JSON.stringify(figure)}\n`);
  return figure;
}

/** The p-th percentile (0–100) of `values`, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
