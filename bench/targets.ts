/**
 * Issue 8's targets, as the sections measure them, for the summary table at
 * the top of the report. A section returns the targets it can judge; run.ts
 * puts them in issue 8's order.
 */
import type { Sample } from './measure.ts';
import { formatMs } from './report.ts';
import { summarize } from './stats.ts';

/** One target as measured. */
export interface TargetResult {
  /** Position in the summary (issue 8's order of targets). */
  order: number;
  /** The target, as issue 8 states it (with the scenario when there are several). */
  target: string;
  /** The measured value and what it was computed from. */
  measured: string;
  /** Undefined when it cannot be judged (a peer was skipped). */
  met?: boolean;
}

/** Issue 8's targets in its order; `limit` is the ratio bound. */
export const TARGETS = {
  seedVsBuildah: { order: 1, limit: 0.5, target: 'seed multi-stage cold build ≤ 0.5× buildah (wall time)' },
  seedVsBuildkit: { order: 2, limit: 0.6, target: 'seed multi-stage cold build ≤ 0.6× BuildKit (wall time)' },
  noopSeed: { order: 3, limit: 1, target: "no-op rebuild ≤ BuildKit's fully cached rebuild, process start included: seed multi-stage" },
  noopCopy: { order: 4, limit: 1, target: "no-op rebuild ≤ BuildKit's fully cached rebuild, process start included: COPY-heavy (20k files)" },
  pull: { order: 5, limit: 1, target: "pull of the Go toolchain image ≥ 1.0× skopeo's throughput: `kiln pull` into the local store (also decompresses each layer to check its diffID)" },
  pullCopy: { order: 5.5, limit: 1, target: "pull of the Go toolchain image ≥ 1.0× skopeo's throughput: `kiln copy docker:// oci:`, the same work as `skopeo copy`" },
  push: { order: 6, limit: 1, target: "push of the Go toolchain image ≥ 1.0× skopeo's throughput" },
  pipeline: { order: 7, limit: 0.8, target: 'layer pipeline (gzip -6) ≥ 0.8× the throughput of `tar | gzip -6 | sha256sum`' },
  rss: { order: 8, limit: 300e6, target: 'peak RSS ≤ 300 MB on the 1 GB image (build, push, pull, build FROM + RUN)' },
} as const;

export type TargetKey = keyof typeof TARGETS;

/** Median wall time of the samples named `name`, or undefined when there are none. */
export function medianMs(samples: ReadonlyMap<string, readonly Sample[]>, name: string): number | undefined {
  const s = samples.get(name);
  return s === undefined || s.length === 0 ? undefined : summarize(s.map((x) => x.ms)).median;
}

/**
 * A wall-time target: kiln's median over the peer's must be at most the limit
 * (`≤ 0.5× buildah`). `peerMs` undefined: the peer was not measured (`why`).
 */
export function timeRatioTarget(key: TargetKey, kilnMs: number | undefined, peer: string, peerMs: number | undefined, why = 'peer skipped'): TargetResult {
  const t = TARGETS[key];
  if (kilnMs === undefined || peerMs === undefined) return { order: t.order, target: t.target, measured: `not measured (${kilnMs === undefined ? 'kiln row missing' : why})` };
  const ratio = kilnMs / peerMs;
  return { order: t.order, target: t.target, measured: `${ratio.toFixed(2)}× (kiln ${formatMs(kilnMs)}, ${peer} ${formatMs(peerMs)}; medians)`, met: ratio <= t.limit };
}

/**
 * A throughput target: kiln's throughput over the peer's (the peer's median
 * time over kiln's, for the same bytes) must be at least the limit.
 */
export function throughputTarget(key: TargetKey, kilnMs: number | undefined, peer: string, peerMs: number | undefined, bytes: number, why = 'peer skipped'): TargetResult {
  const t = TARGETS[key];
  if (kilnMs === undefined || peerMs === undefined) return { order: t.order, target: t.target, measured: `not measured (${kilnMs === undefined ? 'kiln row missing' : why})` };
  const ratio = peerMs / kilnMs;
  const mbps = (ms: number): string => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
  return { order: t.order, target: t.target, measured: `${ratio.toFixed(2)}× (kiln ${mbps(kilnMs)}, ${peer} ${mbps(peerMs)}; of medians)`, met: ratio >= t.limit };
}

/** The summary table: each target, its measured value, met or missed. */
export function renderTargets(targets: readonly TargetResult[], note: string): string {
  const lines = ['## Issue 8 targets', '', note, '', '| target | measured | |', '|:--|:--|:--|'];
  for (const t of [...targets].sort((a, b) => a.order - b.order)) {
    lines.push(`| ${t.target.replace(/\|/g, '\\|')} | ${t.measured.replace(/\|/g, '\\|')} | ${t.met === undefined ? '–' : t.met ? 'met' : '**missed**'} |`);
  }
  return lines.join('\n');
}
