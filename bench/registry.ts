import { createCipheriv } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TarWriteEntry, packLayer } from '../lib/archive/index.ts';
import { ContentStore } from '../lib/content/index.ts';
import { type Image, appendLayer, scratchImage, storeLayer } from '../lib/image/index.ts';
import { MediaType } from '../lib/oci/index.ts';
import { writeOciLayout } from '../lib/transport/index.ts';
import { ensureBaseImages } from '../spec/helpers/base-images.ts';
import { type RunningRegistry, startRegistry } from '../spec/helpers/registry.ts';
import { type Contender, measureRounds, type Sample, scrub, timeCommandAsync } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';
import { summarize } from './stats.ts';
import { type TargetResult, throughputTarget } from './targets.ts';

/** The image pulled and pushed: `layers` layers of `filesPerLayer` files of `fileSize` bytes. */
export interface RegistryBenchSpec {
  layers: number;
  filesPerLayer: number;
  fileSize: number;
}

export const FULL_IMAGE: RegistryBenchSpec = { layers: 3, filesPerLayer: 6, fileSize: 8 << 20 };
export const QUICK_IMAGE: RegistryBenchSpec = { layers: 3, filesPerLayer: 2, fileSize: 4 << 20 };

const BLOCK = 64 * 1024;
const WORDS = 'layer image registry manifest digest blob config index platform push pull copy token scope mount chunk'.split(' ');

/** Deterministic file content: 64 KiB blocks, two in three random (AES-CTR keystream), the rest text; compresses to about 70 %. */
function fileContent(seed: string, size: number): Buffer {
  const key = Buffer.alloc(32);
  key.write(seed);
  const ks = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const out = Buffer.alloc(size);
  let text = '';
  for (let i = 0; text.length < BLOCK; i++) text += `${WORDS[(i * 7 + seed.length) % WORDS.length]} `;
  const textBlock = Buffer.from(text.slice(0, BLOCK));
  for (let off = 0, b = 0; off < size; off += BLOCK, b++) {
    const n = Math.min(BLOCK, size - off);
    const block = b % 3 === 2 ? textBlock.subarray(0, n) : ks.update(Buffer.alloc(n));
    block.copy(out, off);
  }
  return out;
}

/** Builds the image into an OCI layout at `dir` (tag `1`) with kiln's layer pipeline; gzip -6 layers. */
export async function makeBenchImage(dir: string, spec: RegistryBenchSpec): Promise<Image> {
  const store = new ContentStore(`${dir}-store`);
  let image = scratchImage({ platform: { os: 'linux', architecture: 'amd64' } });
  for (let l = 0; l < spec.layers; l++) {
    const entries: TarWriteEntry[] = [{ name: `layer${l}`, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 }];
    for (let f = 0; f < spec.filesPerLayer; f++) {
      const body = fileContent(`kiln-bench-${l}-${f}`, spec.fileSize);
      entries.push({ name: `layer${l}/file-${f}.bin`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: body.length, body: () => body });
    }
    const { stream, uncompressed } = packLayer(entries, { compression: 'gzip', level: 6 });
    const { digest, size } = await store.put(stream);
    const { diffId, size: uncompressedSize } = await uncompressed;
    const layer = storeLayer(store, { descriptor: { mediaType: MediaType.OciLayerGzip, digest, size }, diffId, uncompressedSize });
    image = appendLayer(image, layer, { created: '2024-01-01T00:00:00Z', created_by: `bench layer ${l}` });
  }
  await writeOciLayout(dir, [{ image, refName: '1' }]);
  scrub(`${dir}-store`);
  return image;
}

/** One image pulled and pushed: where it comes from and how to describe it. */
interface Scenario {
  /** Table number and heading. */
  title: string;
  /** Notes under its table. */
  about: string;
  /** `oci:LAYOUT:REF`, the image the source registry and kiln's push store are filled from. */
  ociRef: string;
  /** Repository name in the registries and kiln's store. */
  repo: string;
  /** Config + layer blob bytes (the MB/s numerator). */
  blobBytes: number;
}

/** Config + layer bytes of the image tagged `ref` in the OCI layout at `layout`, from its index and manifest. */
function layoutBlobBytes(layout: string, ref: string): number {
  interface Descriptor { digest: string; size: number; annotations?: Record<string, string> }
  const blob = (d: Descriptor): string => readFileSync(join(layout, 'blobs', ...d.digest.split(':')), 'utf8');
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (desc === undefined) throw new Error(`${layout}: no image tagged ${ref}`);
  const manifest = JSON.parse(blob(desc)) as { config: Descriptor; layers: Descriptor[] };
  return manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
}

/** A scenario's table, the commands it ran, and the medians of its kiln and skopeo rows. */
interface ScenarioResult {
  markdown: string;
  commands: string[];
  medians: Record<'kilnPull' | 'kilnCopy' | 'kilnPush' | 'skopeoPull' | 'skopeoPush', number | undefined>;
}

/**
 * Section 4: pull and push against a local registry (Debian's
 * docker-registry), kiln against `skopeo copy` in the same rounds, for two
 * images: a ~100 MB random 3-layer image, and the Go toolchain image
 * (golang:1.9-alpine from spec/helpers/base-images.ts, ~86 MB of blobs in
 * one big layer), the one issue 8's pull/push target names. Pull: from the
 * registry into kiln's local store (`kiln pull`) and into an OCI layout
 * (`kiln copy`), against skopeo into an OCI layout, each into a fresh folder
 * every run. Push: from kiln's local store and from an OCI layout (skopeo)
 * to a registry started empty for each run, so neither tool can skip or
 * mount a blob (skopeo's blob-info cache would otherwise mount from an
 * earlier run's repository). Every command runs as an async child: the
 * registries' log pipes are drained by this process's event loop.
 */
export async function benchRegistry(env: BenchEnv, runs: number, spec: RegistryBenchSpec): Promise<SectionResult> {
  const dir = join(env.work, 'registry');
  mkdirSync(dir, { recursive: true });
  const layout = join(dir, 'layout');
  env.log(`registry: building a ${spec.layers}-layer image of ${((spec.layers * spec.filesPerLayer * spec.fileSize) / 1e6).toFixed(0)} MB of files`);
  await makeBenchImage(layout, spec);
  const randomBytes = layoutBlobBytes(layout, '1');
  const images = await ensureBaseImages();
  const go = images.golang;
  const goRef = go.ociRef.slice(go.ociRef.lastIndexOf(':') + 1);
  const goBytes = layoutBlobBytes(go.layout, goRef);
  const scenarios: Scenario[] = [
    {
      title: `4a. Registry pull and push of a random ${spec.layers}-layer image, ${(randomBytes / 1e6).toFixed(1)} MB of blobs (gzip -6), over loopback http (${runs} runs; MB/s of blobs)`,
      about: `The image: ${spec.layers} layers of ${spec.filesPerLayer} files × ${spec.fileSize / 2 ** 20} MiB (64 KiB blocks, two in three random), made with kiln's layer pipeline.`,
      ociRef: `oci:${layout}:1`,
      repo: 'bench/random',
      blobBytes: randomBytes,
    },
    {
      title: `4b. Registry pull and push of the Go toolchain image (golang:1.9-alpine), ${(goBytes / 1e6).toFixed(1)} MB of blobs, over loopback http (${runs} runs; MB/s of blobs)`,
      about: `The image: the offline golang:1.9-alpine of spec/helpers/base-images.ts (Debian's Go 1.19 toolchain, ${(go.uncompressedSize / 1e6).toFixed(0)} MB unpacked, one gzip layer of ${(goBytes / 1e6).toFixed(0)} MB and an empty one), the base of section 7's builder stage.`,
      ociRef: go.ociRef,
      repo: 'bench/golang',
      blobBytes: goBytes,
    },
  ];
  const source = await startRegistry({ mode: 'open' });
  try {
    const results: ScenarioResult[] = [];
    for (const [i, sc] of scenarios.entries()) results.push(await measureScenario(env, runs, source, join(dir, `s${i}`), sc));
    const goResult = results[1]!;
    const skopeo = env.peers.get('skopeo');
    const why = skopeo?.ok === false ? `skopeo skipped: ${skopeo.reason}` : 'no samples';
    const targets: TargetResult[] = [
      throughputTarget('pull', goResult.medians.kilnPull, 'skopeo', goResult.medians.skopeoPull, goBytes, why),
      throughputTarget('pullCopy', goResult.medians.kilnCopy, 'skopeo', goResult.medians.skopeoPull, goBytes, why),
      throughputTarget('push', goResult.medians.kilnPush, 'skopeo', goResult.medians.skopeoPush, goBytes, why),
    ];
    const note = 'kiln / this compares with the **kiln** row above it (pull rows with kiln pull, push with kiln push); for MB/s, kiln\'s throughput over skopeo\'s is the inverse. Every pull lands in a fresh folder; every push goes to a registry started empty for that run.';
    return {
      markdown: `${results.map((r) => r.markdown).join('\n\n')}\n\n${note}`,
      commands: results.flatMap((r) => r.commands),
      targets,
    };
  } finally {
    await source.stop();
  }
}

/** Pushes `sc` to `source`, loads it into a kiln store, and runs the pull and push rounds. */
async function measureScenario(env: BenchEnv, runs: number, source: RunningRegistry, dir: string, sc: Scenario): Promise<ScenarioResult> {
  const skopeo = env.peers.get('skopeo');
  mkdirSync(dir, { recursive: true });
  let target: RunningRegistry | undefined;
  const home = join(dir, 'push-home');
  const kilnEnv = (h: string): NodeJS.ProcessEnv => ({ ...process.env, KILN_HOME: h, DOCKER_CONFIG: join(dir, 'docker'), KILN_REGISTRY_MIRRORS: '' });
  const timeFile = join(dir, 'time.out');
  const src = `${source.host}/${sc.repo}:1`;
  await timeCommandAsync(['skopeo', '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', sc.ociRef, `docker://${src}`]);
  await timeCommandAsync([process.execPath, env.kilnCli, 'copy', '-q', sc.ociRef, `${sc.repo}:1`], { env: kilnEnv(home) });
  const pullHome = join(dir, 'pull-home');
  const pullOut = join(dir, 'pull-out');
  const lines = {
    kilnPull: [process.execPath, env.kilnCli, 'pull', '-q', src],
    kilnCopy: [process.execPath, env.kilnCli, 'copy', '-q', `docker://${src}`, `oci:${pullOut}:1`],
    skopeoPull: ['skopeo', '--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${src}`, `oci:${pullOut}:1`],
    kilnPush: (host: string) => [process.execPath, env.kilnCli, 'push', '-q', `${sc.repo}:1`, `${host}/${sc.repo}:1`],
    skopeoPush: (host: string) => ['skopeo', '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', sc.ociRef, `docker://${host}/${sc.repo}:1`],
  };
  const fresh = async (): Promise<RunningRegistry> => {
    await target?.stop();
    target = await startRegistry({ mode: 'open' });
    return target;
  };
  const timed = async (name: string, argv: readonly string[], vars?: NodeJS.ProcessEnv): Promise<Record<string, Sample>> => ({ [name]: await timeCommandAsync(argv, { ...(vars === undefined ? {} : { env: vars }), timeFile }) });
  const contenders: Contender[] = [
    { name: 'kiln pull', before: () => scrub(pullHome), run: () => timed('kiln pull', lines.kilnPull, kilnEnv(pullHome)), after: () => scrub(pullHome) },
    { name: 'kiln copy', before: () => scrub(pullOut), run: () => timed('kiln copy', lines.kilnCopy, kilnEnv(pullHome)), after: () => scrub(pullOut, pullHome) },
    { name: 'kiln push', run: async () => timed('kiln push', lines.kilnPush((await fresh()).host), kilnEnv(home)) },
  ];
  if (skopeo?.ok) {
    contenders.push(
      { name: 'skopeo pull', before: () => scrub(pullOut), run: () => timed('skopeo pull', lines.skopeoPull), after: () => scrub(pullOut) },
      { name: 'skopeo push', run: async () => timed('skopeo push', lines.skopeoPush((await fresh()).host)) },
    );
  }
  try {
    env.log(`registry: ${sc.repo}: ${contenders.length} contenders × ${runs} runs (+1 warm-up), ${(sc.blobBytes / 1e6).toFixed(0)} MB of blobs`);
    const samples = await measureRounds(contenders, { runs, warmup: 1, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
    const median = (name: string): number | undefined => {
      const s = samples.get(name);
      return s === undefined ? undefined : summarize(s.map((x) => x.ms)).median;
    };
    const pullMs = median('kiln pull');
    const pushMs = median('kiln push');
    const bytes = sc.blobBytes;
    const rows: Row[] = [
      row('**kiln pull** → local store', samples.get('kiln pull'), { bytes }),
      row('kiln copy docker:// → oci:', samples.get('kiln copy'), { bytes, ...(pullMs !== undefined ? { kilnMs: pullMs } : {}) }),
      skopeo?.ok ? row('skopeo copy docker:// → oci:', samples.get('skopeo pull'), { bytes, ...(pullMs !== undefined ? { kilnMs: pullMs } : {}) }) : skippedRow('skopeo copy', skopeo?.ok === false ? skopeo.reason : 'not probed'),
      row('**kiln push** local store → empty registry', samples.get('kiln push'), { bytes }),
      skopeo?.ok ? row('skopeo copy oci: → docker:// (empty registry)', samples.get('skopeo push'), { bytes, ...(pushMs !== undefined ? { kilnMs: pushMs } : {}) }) : skippedRow('skopeo copy', 'skipped'),
    ];
    const commands = [
      shellLine(lines.kilnPull, { KILN_HOME: pullHome }),
      shellLine(lines.kilnCopy),
      shellLine(lines.kilnPush('REGISTRY'), { KILN_HOME: home }),
      ...(skopeo?.ok ? [shellLine(lines.skopeoPull), shellLine(lines.skopeoPush('REGISTRY'))] : []),
    ];
    return {
      markdown: `${renderTable({ title: sc.title, rows, cpu: true, rss: true, mbps: true })}\n\n${sc.about}`,
      commands,
      medians: { kilnPull: pullMs, kilnCopy: median('kiln copy'), kilnPush: pushMs, skopeoPull: median('skopeo pull'), skopeoPush: median('skopeo push') },
    };
  } finally {
    await target?.stop();
  }
}
