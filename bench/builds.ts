import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { coldWarmNotes, coldWarmTable, measureColdWarm, startBuildPeers } from './build-peers.ts';
import { type ContextSpec, makeContext } from './make-context.ts';
import type { BenchEnv, SectionResult } from './section.ts';
import { medianMs, timeRatioTarget } from './targets.ts';

/** 20,000 files, about 199 MB: 19,997 text files of 1–16 KiB and 3 × 8 MiB. */
export const FULL_COPY_CONTEXT: ContextSpec = { smallFiles: 19_997, minSmall: 1024, maxSmall: 16 * 1024, largeFiles: 3, largeSize: 8 << 20, seed: 'kiln-bench-builds-v1' };
/** BENCH_QUICK: 2,000 files, about 12 MB. */
export const QUICK_COPY_CONTEXT: ContextSpec = { smallFiles: 1_997, minSmall: 1024, maxSmall: 8 * 1024, largeFiles: 3, largeSize: 1 << 20, seed: 'kiln-bench-builds-v1' };

const DOCKERFILE = 'FROM busybox\nCOPY . /data/\n';

/**
 * kiln without layer compression, cold only: buildah and BuildKit keep their
 * layers uncompressed at build time (they compress when pushing), so this
 * row next to kiln's default (gzip) shows what the gzip costs.
 */
const KILN_UNCOMPRESSED = {
  key: 'kiln-uncompressed',
  label: 'kiln build `--compression=uncompressed` (no layer compression, like buildah and BuildKit at build time)',
  flags: ['--compression=uncompressed'],
  cold: 'kiln `--compression=uncompressed`: the same as kiln, with a store of its own, but writes its layers uncompressed, as buildah and BuildKit do at build time (they compress on push); its kiln / this is what gzip costs kiln',
} as const;

/**
 * Section 6 (issue 6): a COPY-heavy build, `FROM busybox` + `COPY . /data/`
 * of a generated context, by kiln, buildah and Docker BuildKit, each cold
 * (empty store and cache, busybox pulled from the local registry) and as a
 * no-op rebuild right after.
 */
export async function benchBuilds(env: BenchEnv, runs: number, warmup: number, spec: ContextSpec): Promise<SectionResult> {
  const dir = join(env.work, 'builds');
  const context = join(dir, 'context');
  const peersDir = join(dir, 'peers');
  const dockerfile = join(dir, 'Dockerfile');
  mkdirSync(dir, { recursive: true });
  env.log(`builds: generating a context of ${spec.smallFiles + spec.largeFiles} files`);
  const stats = makeContext(context, spec);
  writeFileSync(dockerfile, DOCKERFILE);
  const job = { dir: peersDir, tag: 'bench/copy:1', dockerfile, context, bases: ['busybox'], kilnVariants: [KILN_UNCOMPRESSED] } as const;
  const peers = await startBuildPeers(env, job);
  try {
    const samples = await measureColdWarm(env, peers, job, runs, warmup, 'builds');
    const mb = (stats.bytes / 1e6).toFixed(1);
    const title = `6. COPY-heavy build: \`FROM busybox\` + \`COPY . /data/\` of ${stats.files} files in ${stats.dirs} directories, ${mb} MB, cold and as a no-op rebuild (${runs} runs; MB/s of file content)`;
    const about = `The context: ${spec.smallFiles} text files of ${spec.minSmall / 1024}–${spec.maxSmall / 1024} KiB in nested directories + ${spec.largeFiles} × ${spec.largeSize / 2 ** 20} MiB (make-context.ts, seed ${spec.seed}); busybox (1 MB) comes from the local registry. The Dockerfile is outside the context.`;
    const docker = peers.builders.some((b) => b.key === 'docker');
    return {
      markdown: `${coldWarmTable(title, peers, samples, stats.bytes)}\n\n${about}\n\n${coldWarmNotes(peers, warmup)}`,
      commands: peers.builders.flatMap((b) => b.commands),
      targets: [timeRatioTarget('noopCopy', medianMs(samples, 'kiln warm'), 'BuildKit', medianMs(samples, 'docker warm'), docker ? 'no samples' : 'BuildKit skipped')],
    };
  } finally {
    await peers.stop();
  }
}
