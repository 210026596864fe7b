/**
 * Differential kit: builds every case of a corpus with both peers, kiln's
 * builds and buildah's in separate queues (kiln is CPU-bound; buildah mostly
 * sleeps, see peers.ts), and keeps each result or the reason it failed.
 */
import type { DiffCase } from './corpus.ts';
import type { PeerImage, PeerName, Peers } from './peers.ts';

export type Built = { ok: true; image: PeerImage } | { ok: false; error: Error };

/** Case name → each peer's result. */
export type CorpusResults = Map<string, Record<PeerName, Built>>;

/** Instructions in the Dockerfile: buildah spends about a second on each (see peers.ts). */
function instructionCount(c: DiffCase): number {
  return c.dockerfile.split('\n').filter((line) => /^[A-Za-z]+\s/.test(line)).length;
}

async function pool<T>(items: readonly T[], jobs: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}

/**
 * Builds `cases` with kiln (`kilnJobs` at once) and buildah (`buildahJobs`
 * at once, at most the peers' buildah slots). Never rejects: a failed build
 * is recorded for its case's test to report.
 */
export async function buildCorpus(peers: Peers, cases: readonly DiffCase[], opts: { kilnJobs: number; buildahJobs: number }): Promise<CorpusResults> {
  const results: CorpusResults = new Map();
  const record = (c: DiffCase, peer: PeerName, built: Built): void => {
    const entry = results.get(c.name) ?? ({} as Record<PeerName, Built>);
    entry[peer] = built;
    results.set(c.name, entry);
  };
  const queue = (peer: PeerName, jobs: number, ordered: readonly DiffCase[]): Promise<void> =>
    pool(ordered, jobs, async (c) => {
      try {
        record(c, peer, { ok: true, image: await peers.build(peer, c) });
      } catch (err) {
        record(c, peer, { ok: false, error: err instanceof Error ? err : new Error(String(err)) });
      }
    });
  // Longest first, so the last builds to finish are short ones.
  const ordered = [...cases].sort((a, b) => instructionCount(b) - instructionCount(a));
  await Promise.all([queue('buildah', opts.buildahJobs, ordered), queue('kiln', opts.kilnJobs, ordered)]);
  return results;
}
