import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBaseImages } from '../spec/helpers/base-images.ts';
import { type RunningRegistry, startRegistry } from '../spec/helpers/registry.ts';
import { dockerRef, skopeoCopy } from '../spec/helpers/skopeo.ts';
import { type Contender, measureRounds, type Sample, scrub, timeCommandAsync } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';
import { summarize } from './stats.ts';
import { TARGETS, type TargetResult } from './targets.ts';

/** The image of this section: `layers` COPY layers, each a folder of `filesPerLayer` incompressible files of `fileSize` bytes. */
export interface MemoryImageSpec {
  layers: number;
  filesPerLayer: number;
  fileSize: number;
  seed: string;
}

/** 4 layers × 256 MiB (8 files of 32 MiB each): 1.07 GB of file content, about as much in gzip blobs. */
export const FULL_MEMORY_IMAGE: MemoryImageSpec = { layers: 4, filesPerLayer: 8, fileSize: 32 << 20, seed: 'kiln-bench-memory-v1' };
/** BENCH_QUICK: 4 layers × 8 MiB. */
export const QUICK_MEMORY_IMAGE: MemoryImageSpec = { layers: 4, filesPerLayer: 2, fileSize: 4 << 20, seed: 'kiln-bench-memory-v1' };

/** Issue 8's memory goal, in bytes. */
const RSS_GOAL = TARGETS.rss.limit;
const MTIME = 1_704_067_200; // 2024-01-01T00:00:00Z
const CHUNK = 1 << 20;

/**
 * Writes the context into `dir` (which must not exist): folders `d1`…`dN`,
 * each with `filesPerLayer` files whose bytes are the AES-256-CTR keystream
 * under sha256(seed/layer/file), so incompressible (gzip cannot make them
 * smaller: the layers stay as large as the files) and the same on every
 * machine. Returns the bytes written.
 */
export function makeIncompressibleContext(dir: string, spec: MemoryImageSpec): number {
  mkdirSync(dir);
  const zeros = Buffer.alloc(CHUNK);
  let bytes = 0;
  for (let l = 1; l <= spec.layers; l++) {
    const sub = join(dir, `d${l}`);
    mkdirSync(sub);
    for (let f = 0; f < spec.filesPerLayer; f++) {
      const key = createHash('sha256').update(`${spec.seed}/${l}/${f}`).digest();
      const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
      const file = join(sub, `f${f}.bin`);
      const fd = openSync(file, 'w');
      try {
        for (let done = 0; done < spec.fileSize; done += CHUNK) writeSync(fd, cipher.update(zeros.subarray(0, Math.min(CHUNK, spec.fileSize - done))));
      } finally {
        closeSync(fd);
      }
      utimesSync(file, MTIME, MTIME);
      bytes += spec.fileSize;
    }
    utimesSync(sub, MTIME, MTIME);
  }
  utimesSync(dir, MTIME, MTIME);
  return bytes;
}

/** The sample names of the kiln rows and what each does, in table order. */
const KILN_OPS = [
  ['kiln build', 'kiln build, cold (`FROM busybox` + 4 × COPY)'],
  ['kiln push', 'kiln push, local store → empty registry'],
  ['kiln pull', 'kiln pull, registry → empty local store'],
  ['kiln build FROM', 'kiln build `FROM` the image + `RUN du -s /d1 > /size`, empty local store'],
] as const;

/**
 * Section "memory" (issue 8: peak RSS ≤ 300 MB on a 1 GB image): kiln
 * builds a 1 GB image of 4 incompressible 256 MiB layers from a generated
 * context (`FROM busybox` + 4 COPY), pushes it, pulls it into an empty
 * store, and builds `FROM` it (pulled into an empty store) with a small
 * RUN, each a process of its own under GNU time for its peak RSS; skopeo
 * copies the same image to and from the registry as the peer for push and
 * pull. Every command runs as an async child: the registries' log pipes are
 * drained by this process's event loop.
 */
export async function benchMemory(env: BenchEnv, runs: number, spec: MemoryImageSpec): Promise<SectionResult> {
  const skopeo = env.peers.get('skopeo');
  const dir = join(env.work, 'memory');
  const context = join(dir, 'context');
  mkdirSync(dir, { recursive: true });
  env.log(`memory: generating ${spec.layers} × ${spec.filesPerLayer} files of ${spec.fileSize / 2 ** 20} MiB`);
  const contextBytes = makeIncompressibleContext(context, spec);
  const dockerfile = join(dir, 'Dockerfile');
  writeFileSync(dockerfile, ['FROM busybox', ...Array.from({ length: spec.layers }, (_, i) => `COPY d${i + 1} /d${i + 1}`), ''].join('\n'));
  const source = await startRegistry({ mode: 'open' });
  let target: RunningRegistry | undefined;
  try {
    const images = await ensureBaseImages();
    for (const name of images.busybox.registryNames) await skopeoCopy(images.busybox.ociRef, dockerRef(source, name), { registry: source });
    const homes = { build: join(dir, 'build-home'), push: join(dir, 'push-home'), pull: join(dir, 'pull-home'), from: join(dir, 'from-home') };
    const kilnEnv = (home: string): NodeJS.ProcessEnv => {
      const vars: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: home, DOCKER_CONFIG: join(dir, 'docker'), KILN_REGISTRY_MIRRORS: '' };
      delete vars.SOURCE_DATE_EPOCH;
      return vars;
    };
    const kiln = (...args: string[]): string[] => [process.execPath, env.kilnCli, ...args];
    const image = `${source.host}/bench/mem:1`;
    const fromDir = join(dir, 'from');
    mkdirSync(fromDir);
    writeFileSync(join(fromDir, 'Dockerfile'), `FROM ${image}\nRUN du -s /d1 > /size\n`);
    const skopeoLayout = join(dir, 'skopeo-layout');
    const pullOut = join(dir, 'pull-out');
    const lines = {
      build: kiln('build', '-q', '--registry-mirror', `docker.io=${source.url}`, '-t', 'bench/mem:1', '-f', dockerfile, context),
      push: (host: string) => kiln('push', '-q', 'bench/mem:1', `${host}/bench/mem:1`),
      pull: kiln('pull', '-q', image),
      from: kiln('build', '-q', '-t', 'bench/mem-from:1', '-f', join(fromDir, 'Dockerfile'), fromDir),
      skopeoPull: ['skopeo', '--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${image}`, `oci:${pullOut}:1`],
      skopeoPush: (host: string) => ['skopeo', '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${skopeoLayout}:1`, `docker://${host}/bench/mem:1`],
    };

    // Untimed setup: the image in a kiln store (to push from), in the source registry (to pull from) and in an OCI layout (skopeo's push source).
    env.log('memory: building the image once (untimed) and pushing it to the source registry');
    await timeCommandAsync(lines.build, { env: kilnEnv(homes.push) });
    await timeCommandAsync(lines.push(source.host), { env: kilnEnv(homes.push) });
    if (skopeo?.ok) await timeCommandAsync(['skopeo', '--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${image}`, `oci:${skopeoLayout}:1`]);
    const blobBytes = registryBlobBytes(source, 'bench/mem', '1');

    const timeFile = join(dir, 'time.out');
    const timed = async (name: string, argv: readonly string[], vars?: NodeJS.ProcessEnv): Promise<Record<string, Sample>> => ({ [name]: await timeCommandAsync(argv, { ...(vars === undefined ? {} : { env: vars }), timeFile }) });
    const fresh = async (): Promise<RunningRegistry> => {
      await target?.stop();
      target = await startRegistry({ mode: 'open' });
      return target;
    };
    const contenders: Contender[] = [
      { name: 'kiln build', before: () => scrub(homes.build), run: () => timed('kiln build', lines.build, kilnEnv(homes.build)), after: () => scrub(homes.build) },
      { name: 'kiln push', run: async () => timed('kiln push', lines.push((await fresh()).host), kilnEnv(homes.push)), after: () => scrub() },
      { name: 'kiln pull', before: () => scrub(homes.pull), run: () => timed('kiln pull', lines.pull, kilnEnv(homes.pull)), after: () => scrub(homes.pull) },
      { name: 'kiln build FROM', before: () => scrub(homes.from), run: () => timed('kiln build FROM', lines.from, kilnEnv(homes.from)), after: () => scrub(homes.from) },
    ];
    if (skopeo?.ok) {
      contenders.push(
        { name: 'skopeo push', run: async () => timed('skopeo push', lines.skopeoPush((await fresh()).host)), after: () => scrub() },
        { name: 'skopeo pull', before: () => scrub(pullOut), run: () => timed('skopeo pull', lines.skopeoPull), after: () => scrub(pullOut) },
      );
    }
    env.log(`memory: ${contenders.length} contenders × ${runs} runs, ${(blobBytes / 1e6).toFixed(0)} MB of blobs`);
    const samples = await measureRounds(contenders, { runs, warmup: 0, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });

    const medianMs = (name: string): number | undefined => {
      const s = samples.get(name);
      return s === undefined || s.length === 0 ? undefined : summarize(s.map((x) => x.ms)).median;
    };
    const vs = (kilnName: string): { kilnMs?: number } => {
      const ms = medianMs(kilnName);
      return ms === undefined ? {} : { kilnMs: ms };
    };
    const skipped = skopeo?.ok === false ? skopeo.reason : 'not probed';
    const rows: Row[] = [
      row(`**${KILN_OPS[0][1]}**`, samples.get('kiln build'), { bytes: contextBytes }),
      row(`**${KILN_OPS[1][1]}**`, samples.get('kiln push'), { bytes: blobBytes }),
      skopeo?.ok ? row('skopeo copy oci: → docker:// (empty registry)', samples.get('skopeo push'), { bytes: blobBytes, ...vs('kiln push') }) : skippedRow('skopeo copy (push)', skipped),
      row(`**${KILN_OPS[2][1]}**`, samples.get('kiln pull'), { bytes: blobBytes }),
      skopeo?.ok ? row('skopeo copy docker:// → oci: (empty folder)', samples.get('skopeo pull'), { bytes: blobBytes, ...vs('kiln pull') }) : skippedRow('skopeo copy (pull)', skipped),
      row(`**${KILN_OPS[3][1]}**`, samples.get('kiln build FROM'), { bytes: blobBytes }),
    ];
    const mb = (kib: number): string => `${((kib * 1024) / 1e6).toFixed(0)} MB`;
    const rssOf = (name: string): number[] => samples.get(name)?.map((s) => s.rssKiB).filter((x): x is number => x !== undefined) ?? [];
    const goalLines = ['| process | peak RSS median | peak RSS max | against 300 MB |', '|:--|--:|--:|:--|'];
    let worst: { name: string; kib: number } | undefined;
    for (const [name, label] of [...KILN_OPS, ['skopeo push', 'skopeo copy, push'], ['skopeo pull', 'skopeo copy, pull']] as const) {
      const kib = rssOf(name);
      if (kib.length === 0) continue;
      const max = Math.max(...kib);
      if (name.startsWith('kiln') && (worst === undefined || max > worst.kib)) worst = { name, kib: max };
      const verdict = name.startsWith('kiln') ? (max * 1024 <= RSS_GOAL ? 'under' : '**over**') : '(peer)';
      goalLines.push(`| ${label} | ${mb(summarize(kib).median)} | ${mb(max)} | ${verdict} |`);
    }
    const t = TARGETS.rss;
    const targets: TargetResult[] = [
      worst === undefined
        ? { order: t.order, target: t.target, measured: 'not measured (no GNU time)' }
        : {
            order: t.order,
            target: t.target,
            measured: `${mb(worst.kib)} at most (${worst.name}); maxima: ${KILN_OPS.map(([n]) => `${n.replace('kiln ', '')} ${mb(Math.max(...rssOf(n)))}`).join(', ')}`,
            met: worst.kib * 1024 <= RSS_GOAL,
          },
    ];
    const gb = (contextBytes / 1e9).toFixed(2);
    const title = `8. Peak RSS on a ${gb} GB image: ${spec.layers} layers × ${(spec.filesPerLayer * spec.fileSize) / 2 ** 20} MiB of incompressible files, ${(blobBytes / 1e6).toFixed(0)} MB of blobs (${runs} runs, no warm-up; MB/s of file content for the build, of blobs otherwise)`;
    const about = [
      `Peak RSS is GNU time's %M of each command (the largest single process of it: kiln runs as one Node process; the RUN's sandbox and \`du\` are separate, smaller processes). MB are 10^6 bytes. Issue 8's goal is 300 MB for pulling and building on a 1 GB image:`,
      '',
      ...goalLines,
      '',
      `The context (WORK/memory/context): folders d1…d${spec.layers}, each ${spec.filesPerLayer} files of ${spec.fileSize / 2 ** 20} MiB of AES-256-CTR keystream (seed ${spec.seed}), so gzip cannot shrink them; the Dockerfile is \`FROM busybox\` + \`COPY dN /dN\` per folder. busybox comes from a local registry (the source registry), which also holds the built image (pushed once, untimed, before the rounds) for the pulls and the \`FROM\`. Every kiln command starts from the store it needs: the build, the pull and the build FROM from an empty \`KILN_HOME\`; the push from a store holding the image, to a registry started empty for that run (as skopeo's push, from an OCI layout of the image). Stores, registries and layouts are on disk in WORK.`,
    ].join('\n');
    const commands = [
      shellLine(lines.build, { KILN_HOME: homes.build }),
      shellLine(lines.push('REGISTRY'), { KILN_HOME: homes.push }),
      shellLine(lines.pull, { KILN_HOME: homes.pull }),
      `${shellLine(lines.from, { KILN_HOME: homes.from })}   # Dockerfile: FROM ${image} / RUN du -s /d1 > /size`,
      ...(skopeo?.ok ? [shellLine(lines.skopeoPush('REGISTRY')), shellLine(lines.skopeoPull)] : []),
    ];
    return { markdown: `${renderTable({ title, rows, cpu: true, rss: true, mbps: true })}\n\n${about}`, commands, targets };
  } finally {
    await target?.stop();
    await source.stop();
  }
}

/** Config + layer bytes of `repo:tag` in the registry's storage (read from its files, not over HTTP). */
function registryBlobBytes(reg: RunningRegistry, repo: string, tag: string): number {
  const v2 = join(reg.storageDir, 'docker', 'registry', 'v2');
  const link = readFileSync(join(v2, 'repositories', repo, '_manifests', 'tags', tag, 'current', 'link'), 'utf8').trim();
  const hex = link.slice('sha256:'.length);
  const manifest = JSON.parse(readFileSync(join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), 'utf8')) as { config: { size: number }; layers: { size: number }[] };
  return manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
}
