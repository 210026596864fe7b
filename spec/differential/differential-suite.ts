/**
 * Differential kit: the shape both differential test files share. Once per
 * file: start the peers, build the whole corpus with kiln and buildah
 * (concurrently), then one test per case comparing the two images, and a last
 * test that every exception listed for this corpus was needed (a stale entry
 * would hide a future regression).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCorpus, type CorpusResults } from './build-corpus.ts';
import { compareImages, describeDifference, historyProblems } from './compare.ts';
import { type DiffCase, loadCorpus } from './corpus.ts';
import { type Corpus, EXCEPTIONS, explain } from './exceptions.ts';
import { type Peers, startPeers } from './peers.ts';

export interface SuiteOptions {
  title: string;
  corpus: Corpus;
  /** The least number of cases the issue asks for. */
  minCases: number;
  /** Concurrent builds (buildah mostly sleeps, kiln uses the CPU). */
  buildahJobs: number;
  kilnJobs: number;
}

function checkCase(c: DiffCase, corpus: Corpus, results: CorpusResults, explained: Map<string, string[]>): void {
  const built = results.get(c.name);
  assert.ok(built !== undefined, `${c.name} was not built`);
  const failures = [built.kiln, built.buildah].flatMap((b) => (b.ok ? [] : [b.error.message]));
  assert.deepEqual(failures, [], `${c.name}: a build failed`);
  if (!built.kiln.ok || !built.buildah.ok) return;
  const kiln = built.kiln.image;
  const buildah = built.buildah.image;
  // Every case puts files in its image: an empty tree would mean the unpacking, not the builders, was compared.
  assert.ok(kiln.rootfs.size > 1 && buildah.rootfs.size > 1, `${c.name}: an unpacked image is empty`);
  assert.deepEqual([...historyProblems(kiln), ...historyProblems(buildah)], [], `${c.name}: history does not match the layers`);
  const ctx = { dockerfile: c.dockerfile, kiln, buildah };
  const unexplained: string[] = [];
  for (const d of compareImages(kiln, buildah)) {
    const exception = explain(d, ctx, corpus);
    if (exception === undefined) unexplained.push(describeDifference(d));
    else explained.set(exception.id, [...(explained.get(exception.id) ?? []), `${c.name}: ${describeDifference(d)}`]);
  }
  assert.deepEqual(unexplained, [], `${c.name} (${c.covers}): kiln and buildah differ`);
}

/** Registers the before/after hooks and the tests of one differential test file. */
export function differentialSuite(opts: SuiteOptions): void {
  const cases = loadCorpus(opts.corpus === 'run');
  const explained = new Map<string, string[]>();
  let peers: Peers | undefined;
  let results: CorpusResults = new Map();

  before(async () => {
    peers = await startPeers(`kiln-differential-${opts.corpus}-`, { buildahSlots: opts.buildahJobs });
    results = await buildCorpus(peers, cases, { kilnJobs: opts.kilnJobs, buildahJobs: opts.buildahJobs });
  });
  after(async () => {
    await peers?.stop();
  });

  describe(opts.title, () => {
    test(`the corpus has at least ${opts.minCases} cases, each saying what it covers`, () => {
      assert.ok(cases.length >= opts.minCases, `${cases.length} cases`);
      for (const c of cases) assert.ok(c.covers.length > 20, `${c.name}: README too short`);
    });
    for (const c of cases) test(`${c.name}: ${c.covers}`, () => checkCase(c, opts.corpus, results, explained));
    test('every exception listed for this corpus explains a difference the corpus shows', (t) => {
      const failed = cases.filter((c) => !(results.get(c.name)?.kiln.ok === true && results.get(c.name)?.buildah.ok === true));
      if (failed.length > 0) return t.skip(`not every case was built (${failed.map((c) => c.name).join(', ')})`);
      for (const [id, where] of explained) t.diagnostic(`${id}: ${where.length} differences, in ${[...new Set(where.map((w) => w.split(':')[0]))].join(', ')}`);
      const stale = EXCEPTIONS.filter((e) => e.corpora.includes(opts.corpus) && !explained.has(e.id)).map((e) => e.id);
      assert.deepEqual(stale, [], 'exceptions that matched nothing: drop them or restore the case that shows them');
    });
  });
}
