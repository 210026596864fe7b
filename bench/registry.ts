import { createCipheriv } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type TarWriteEntry, packLayer } from '../lib/archive/index.ts';
import { ContentStore } from '../lib/content/index.ts';
import { type Image, appendLayer, scratchImage, storeLayer } from '../lib/image/index.ts';
import { MediaType } from '../lib/oci/index.ts';
import { writeOciLayout } from '../lib/transport/index.ts';
import { type RunningRegistry, startRegistry } from '../spec/helpers/registry.ts';
import { type Contender, measureRounds, scrub, timeCommand } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';
import { summarize } from './stats.ts';

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

/**
 * Section 4: pull and push of a ~100 MB 3-layer image against a local
 * registry (Debian's docker-registry), kiln against `skopeo copy` in the
 * same rounds. Pull: from the registry into kiln's local store (`kiln
 * pull`) and into an OCI layout (`kiln copy`), against skopeo into an OCI
 * layout, each into a fresh folder every run. Push: from kiln's local store
 * and from an OCI layout (skopeo) to a registry started empty for each run,
 * so neither tool can skip or mount a blob (skopeo's blob-info cache would
 * otherwise mount from an earlier run's repository).
 */
export async function benchRegistry(env: BenchEnv, runs: number, spec: RegistryBenchSpec): Promise<SectionResult> {
  const skopeo = env.peers.get('skopeo');
  const dir = join(env.work, 'registry');
  mkdirSync(dir, { recursive: true });
  const layout = join(dir, 'layout');
  env.log(`registry: building a ${spec.layers}-layer image of ${((spec.layers * spec.filesPerLayer * spec.fileSize) / 1e6).toFixed(0)} MB of files`);
  const image = await makeBenchImage(layout, spec);
  const blobBytes = image.layers.reduce((n, l) => n + l.descriptor.size, 0) + image.configBytes.length;
  const source = await startRegistry({ mode: 'open' });
  let target: RunningRegistry | undefined;
  const home = join(dir, 'push-home');
  const kilnEnv = (h: string): NodeJS.ProcessEnv => ({ ...process.env, KILN_HOME: h, DOCKER_CONFIG: join(dir, 'docker'), KILN_REGISTRY_MIRRORS: '' });
  const timeFile = join(dir, 'time.out');
  try {
    timeCommand(['skopeo', '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${layout}:1`, `docker://${source.host}/bench/src:1`]);
    timeCommand([process.execPath, env.kilnCli, 'copy', '-q', `oci:${layout}:1`, 'bench/img:1'], { env: kilnEnv(home) });
    const src = `${source.host}/bench/src:1`;
    const pullHome = join(dir, 'pull-home');
    const pullOut = join(dir, 'pull-out');
    const lines = {
      kilnPull: [process.execPath, env.kilnCli, 'pull', '-q', src],
      kilnCopy: [process.execPath, env.kilnCli, 'copy', '-q', `docker://${src}`, `oci:${pullOut}:1`],
      skopeoPull: ['skopeo', '--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${src}`, `oci:${pullOut}:1`],
      kilnPush: (host: string) => [process.execPath, env.kilnCli, 'push', '-q', 'bench/img:1', `${host}/bench/pushed:1`],
      skopeoPush: (host: string) => ['skopeo', '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${layout}:1`, `docker://${host}/bench/pushed:1`],
    };
    const fresh = async (): Promise<void> => {
      await target?.stop();
      target = await startRegistry({ mode: 'open' });
    };
    const contenders: Contender[] = [
      { name: 'kiln pull', before: () => scrub(pullHome), run: () => ({ 'kiln pull': timeCommand(lines.kilnPull, { env: kilnEnv(pullHome), timeFile }) }), after: () => scrub(pullHome) },
      { name: 'kiln copy', before: () => scrub(pullOut), run: () => ({ 'kiln copy': timeCommand(lines.kilnCopy, { env: kilnEnv(pullHome), timeFile }) }), after: () => scrub(pullOut, pullHome) },
      { name: 'kiln push', run: async () => {
        await fresh();
        return { 'kiln push': timeCommand(lines.kilnPush(target!.host), { env: kilnEnv(home), timeFile }) };
      } },
    ];
    if (skopeo?.ok) {
      contenders.push(
        { name: 'skopeo pull', before: () => scrub(pullOut), run: () => ({ 'skopeo pull': timeCommand(lines.skopeoPull, { timeFile }) }), after: () => scrub(pullOut) },
        { name: 'skopeo push', run: async () => {
          await fresh();
          return { 'skopeo push': timeCommand(lines.skopeoPush(target!.host), { timeFile }) };
        } },
      );
    }
    env.log(`registry: ${contenders.length} contenders × ${runs} runs (+1 warm-up), ${(blobBytes / 1e6).toFixed(0)} MB of blobs`);
    const samples = await measureRounds(contenders, { runs, warmup: 1, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
    const median = (name: string): number | undefined => {
      const s = samples.get(name);
      return s === undefined ? undefined : summarize(s.map((x) => x.ms)).median;
    };
    const pullMs = median('kiln pull');
    const pushMs = median('kiln push');
    const rows: Row[] = [
      row('**kiln pull** → local store', samples.get('kiln pull'), { bytes: blobBytes }),
      row('kiln copy docker:// → oci:', samples.get('kiln copy'), { bytes: blobBytes, ...(pullMs !== undefined ? { kilnMs: pullMs } : {}) }),
      skopeo?.ok ? row('skopeo copy docker:// → oci:', samples.get('skopeo pull'), { bytes: blobBytes, ...(pullMs !== undefined ? { kilnMs: pullMs } : {}) }) : skippedRow('skopeo copy', skopeo?.ok === false ? skopeo.reason : 'not probed'),
      row('**kiln push** local store → empty registry', samples.get('kiln push'), { bytes: blobBytes }),
      skopeo?.ok ? row('skopeo copy oci: → docker:// (empty registry)', samples.get('skopeo push'), { bytes: blobBytes, ...(pushMs !== undefined ? { kilnMs: pushMs } : {}) }) : skippedRow('skopeo copy', 'skipped'),
    ];
    const title = `4. Registry pull and push of a ${spec.layers}-layer image, ${(blobBytes / 1e6).toFixed(1)} MB of blobs (gzip -6), over loopback http (${runs} runs; MB/s of blobs)`;
    const note = '\n\nkiln / this compares with the **kiln** row above it (pull rows with kiln pull, push with kiln push). Every pull lands in a fresh folder; every push goes to a registry started empty for that run.';
    const commands = [
      shellLine(lines.kilnPull, { KILN_HOME: pullHome }),
      shellLine(lines.kilnCopy),
      shellLine(lines.kilnPush('REGISTRY'), { KILN_HOME: home }),
      ...(skopeo?.ok ? [shellLine(lines.skopeoPull), shellLine(lines.skopeoPush('REGISTRY'))] : []),
    ];
    return { markdown: renderTable({ title, rows, cpu: true, rss: true, mbps: true }) + note, commands };
  } finally {
    await target?.stop();
    await source.stop();
  }
}
