import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBaseImages } from '../spec/helpers/base-images.ts';
import { coldWarmNotes, coldWarmTable, measureColdWarm, startBuildPeers } from './build-peers.ts';
import type { BenchEnv, SectionResult } from './section.ts';
import { medianMs, timeRatioTarget } from './targets.ts';

const SEED = fileURLToPath(new URL('../testdata/seed', import.meta.url));

/**
 * Section 7 (issue 7): testdata/seed's multi-stage Dockerfile (a
 * golang:1.9-alpine builder stage that runs `go build`, then an alpine
 * stage that copies the binary), by kiln, buildah and Docker BuildKit, cold
 * (empty store and cache; both bases pulled from the local registry) and
 * as a no-op rebuild.
 */
export async function benchSeed(env: BenchEnv, runs: number, warmup: number): Promise<SectionResult> {
  const job = { dir: join(env.work, 'seed'), tag: 'bench/seed:1', dockerfile: join(SEED, 'Dockerfile'), context: SEED, bases: ['busybox', 'golang'] } as const;
  const images = await ensureBaseImages();
  const peers = await startBuildPeers(env, job);
  try {
    const samples = await measureColdWarm(env, peers, job, runs, warmup, 'seed');
    const title = `7. Multi-stage build of testdata/seed (golang:1.9-alpine builder with \`RUN go build\`, alpine stage), cold and as a no-op rebuild (${runs} runs)`;
    const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
    const bwrap = env.peers.get('bwrap');
    const about = [
      `The bases, from the local registry: golang:1.9-alpine (the offline Go 1.19 toolchain image, ${mb(images.golang.compressedSize)} of blobs, ${mb(images.golang.uncompressedSize)} unpacked) and alpine (busybox, ${mb(images.busybox.compressedSize)}).`,
      `RUN sandboxes: kiln's own (bubblewrap when usable${bwrap?.ok ? `: ${bwrap.version}` : ''}), buildah \`--isolation chroot\`, BuildKit runc with \`--network=none\`. The Go build cache starts empty in every cold build (GOCACHE is inside the builder's root filesystem).`,
    ].join(' ');
    const has = (key: string): string => (peers.builders.some((b) => b.key === key) ? 'no samples' : `${key} skipped`);
    const kilnCold = medianMs(samples, 'kiln cold');
    return {
      markdown: `${coldWarmTable(title, peers, samples)}\n\n${about}\n\n${coldWarmNotes(peers, warmup)}`,
      commands: peers.builders.flatMap((b) => b.commands),
      targets: [
        timeRatioTarget('seedVsBuildah', kilnCold, 'buildah', medianMs(samples, 'buildah cold'), has('buildah')),
        timeRatioTarget('seedVsBuildkit', kilnCold, 'BuildKit', medianMs(samples, 'docker cold'), has('docker')),
        timeRatioTarget('noopSeed', medianMs(samples, 'kiln warm'), 'BuildKit', medianMs(samples, 'docker warm'), has('docker')),
      ],
    };
  } finally {
    await peers.stop();
  }
}
