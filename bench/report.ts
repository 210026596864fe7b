import type { Sample } from './measure.ts';
import { medianOf, type Summary, summarize } from './stats.ts';

/** One line of a result table: a contender's wall times and, where measured, the rest. */
export interface Row {
  label: string;
  wall?: Summary;
  cpuMs?: number;
  rssKiB?: number;
  /** Bytes of uncompressed input, for MB/s at the median. */
  bytes?: number;
  /** Median wall time of the kiln row this one is compared with. */
  kilnMs?: number;
  /** Why there are no numbers (a skipped peer). */
  skipped?: string;
}

export interface Table {
  title: string;
  rows: Row[];
  /** Optional columns to show. */
  cpu?: boolean;
  rss?: boolean;
  mbps?: boolean;
}

/** A row from samples; `kilnMs` is the median of the kiln row it is compared with, if any. */
export function row(label: string, samples: readonly Sample[] | undefined, extra: Omit<Row, 'label' | 'wall'> = {}): Row {
  if (samples === undefined || samples.length === 0) return { label, ...extra, skipped: extra.skipped ?? 'no samples' };
  const cpuMs = medianOf(samples.map((s) => s.cpuMs));
  const rssKiB = medianOf(samples.map((s) => s.rssKiB));
  return {
    label,
    wall: summarize(samples.map((s) => s.ms)),
    ...(cpuMs !== undefined ? { cpuMs } : {}),
    ...(rssKiB !== undefined ? { rssKiB } : {}),
    ...extra,
  };
}

/** A skipped contender's row. */
export function skippedRow(label: string, reason: string): Row {
  return { label, skipped: reason };
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** A markdown table: median, min, max, the optional columns, and kiln/this (of medians; < 1 means kiln is faster). */
export function renderTable(t: Table): string {
  const head = ['', 'median', 'min', 'max'];
  if (t.cpu) head.push('CPU (median)');
  if (t.rss) head.push('peak RSS (median)');
  if (t.mbps) head.push('MB/s (median)');
  head.push('kiln / this');
  const lines = [`### ${t.title}`, '', `| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ':--' : '--:')).join('|')}|`];
  for (const r of t.rows) lines.push(`| ${cells(t, r, head.length).join(' | ')} |`);
  return lines.join('\n');
}

function cells(t: Table, r: Row, width: number): string[] {
  if (r.wall === undefined) return [r.label, `skipped: ${r.skipped ?? '?'}`, ...Array<string>(width - 2).fill('')];
  const c = [r.label, formatMs(r.wall.median), formatMs(r.wall.min), formatMs(r.wall.max)];
  if (t.cpu) c.push(r.cpuMs === undefined ? '–' : formatMs(r.cpuMs));
  if (t.rss) c.push(r.rssKiB === undefined ? '–' : `${(r.rssKiB / 1024).toFixed(0)} MiB`);
  if (t.mbps) c.push(r.bytes === undefined ? '–' : (r.bytes / 1e6 / (r.wall.median / 1000)).toFixed(1));
  c.push(r.kilnMs === undefined ? '–' : `${(r.kilnMs / r.wall.median).toFixed(2)}×`);
  return c;
}
