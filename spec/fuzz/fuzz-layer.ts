/**
 * Fuzzes what kiln does with a pulled layer blob, with mutated tars (see
 * mutate-tar.ts) from testdata/archive/foreign-tars, testdata/malicious/layers
 * and the hostile entries of tar-craft.ts, plain or gzip/zstd-wrapped:
 *
 * - apply: `layer.openUncompressed()` (decompress, diffID check) into
 *   `applyLayer` over a base tree whose symlinks point out of it (FROM);
 * - tree: invariants of the result (no `..`, `/` or NUL in names, every
 *   file's bytes readable at its declared size from the spill file);
 * - materialize: a quarter of the applied trees written to disk in the run's
 *   temp folder (`--output type=local`, `kiln cp`, RUN mounts), with nothing
 *   appearing beside the destination;
 * - index, lowest-needed: `indexLayer` and `lowestNeededLayer` (COPY --from
 *   an image scans layers top-down);
 * - extract: a fifth of the blobs unpacked as ADD does (`extractTarInto`).
 *
 * Each stage must resolve or reject with a KilnError. applyLayer runs with
 * maxBytes lowered to 256 MiB (the default is 32 GiB): a mutated sparse
 * header can legitimately declare gigabytes of holes, which would take
 * minutes to write out, not show a bug; the cap itself is tested in spec/vfs.
 *
 *   node --import tsx spec/fuzz/fuzz-layer.ts [--count 10000] [--seed 1] (fuzz-kit.ts USAGE for the rest)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { type Digest, sha256 } from '../../lib/digest/index.ts';
import { indexLayer, lowestNeededLayer, sourcePaths } from '../../lib/executor/layer-scan.ts';
import { type Layer, layerFrom } from '../../lib/image/index.ts';
import { MediaType } from '../../lib/oci/index.ts';
import { type DirNode, type FileNode, IMPLIED_DIR, SpillDir, applyLayer, emptyDir, extractTarInto, materialize, openContent, walk } from '../../lib/vfs/index.ts';
import { type FuzzTarget, type Random, chance, int, pick, runFuzz } from './fuzz-kit.ts';
import { type Wrapping, mutateTar, wrap } from './mutate-tar.ts';
import { type RawEntry, baseLayerEntries, hostileEntries, tar } from './tar-craft.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SEED_DIRS = ['testdata/archive/foreign-tars', 'testdata/malicious/layers'];
const LIMITS = { maxBytes: 256 << 20 };

/** How one case runs, stored as the input's first line (so a saved input replays exactly). */
interface CaseMeta {
  mediaType: string;
  wrapping: Wrapping;
  onBase: boolean;
  /** Give the layer its real diffID (else a wrong one: the check must fail typed at the end). */
  rightDiffId: boolean;
  /** Size of the chunks the blob arrives in; 0: one chunk. */
  chunk: number;
  materialize: boolean;
  extract: boolean;
  /** COPY --from sources for lowestNeededLayer. */
  sources: string[];
}

interface State {
  seeds: Buffer[];
  hostile: RawEntry[][];
  base?: { layer: Layer; tree: DirNode; spill: SpillDir };
}

const MEDIA_TYPES: Record<Wrapping, string[]> = {
  none: [MediaType.OciLayer],
  gzip: [MediaType.OciLayerGzip, MediaType.DockerLayerGzip, MediaType.DockerForeignLayerGzip],
  zstd: [MediaType.OciLayerZstd],
};
const SOURCES = ['/', 'etc', '/etc/passwd', 'usr/lib/*', 'lib/libc.so', 'abs/etc', 'up/x', 'x/y', 'dev', 'a/../b', '*', 'sparse*', 'evil/kiln-fuzz-through-abs', 'd/l'];

function load(): State {
  const seeds: Buffer[] = [];
  for (const dir of SEED_DIRS) {
    for (const name of readdirSync(join(ROOT, dir)).sort()) if (name.endsWith('.tar')) seeds.push(readFileSync(join(ROOT, dir, name)));
  }
  const hostile = hostileEntries();
  for (const group of hostile) seeds.push(tar(group));
  seeds.push(tar(hostile.flat()), tar(baseLayerEntries()), tar([], 0), tar([], 1));
  return { seeds, hostile };
}

function generate(state: State, random: Random): Uint8Array {
  const t = mutateTar(state.seeds, state.hostile, random);
  const { blob, wrapping } = wrap(t, random);
  // Now and then a media type that does not match the bytes (kiln tells compression from the bytes).
  const mediaType = chance(random, 0.9) ? pick(random, MEDIA_TYPES[wrapping]) : pick(random, Object.values(MEDIA_TYPES).flat());
  const meta: CaseMeta = {
    mediaType,
    wrapping,
    onBase: chance(random, 0.8),
    rightDiffId: chance(random, 0.9),
    chunk: chance(random, 0.7) ? 0 : pick(random, [1, 3, 511, 512, 513, 4096, 65_536]),
    materialize: chance(random, 0.25),
    extract: chance(random, 0.2),
    sources: Array.from({ length: 1 + int(random, 3) }, () => pick(random, SOURCES)),
  };
  return Buffer.concat([Buffer.from(`${JSON.stringify(meta)}\n`), blob]);
}

/** The diffID worked out independently of kiln (node:zlib, the zstd program); a made-up one when that fails. */
function diffIdOf(blob: Buffer, wrapping: Wrapping): Digest {
  let tarBytes: Buffer;
  try {
    tarBytes = wrapping === 'gzip' ? gunzipSync(blob) : wrapping === 'zstd' ? execFileSync('zstd', ['-d', '-q', '-c'], { input: blob, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] }) : blob;
  } catch {
    tarBytes = Buffer.from('not decompressible');
  }
  return `sha256:${createHash('sha256').update(tarBytes).digest('hex')}` as Digest;
}

function layerOf(blob: Buffer, meta: CaseMeta): Layer {
  const diffId = meta.rightDiffId ? diffIdOf(blob, meta.wrapping) : sha256(Buffer.from('some other tar'));
  const chunks: Buffer[] = [];
  if (meta.chunk === 0) chunks.push(blob);
  else for (let i = 0; i < blob.length; i += meta.chunk) chunks.push(blob.subarray(i, i + meta.chunk));
  return layerFrom({ descriptor: { mediaType: meta.mediaType, digest: sha256(blob), size: blob.length }, diffId, open: async () => Readable.from(chunks) });
}

/** What every applied tree must satisfy: plain names, and files whose bytes are there at their size. */
async function checkTree(tree: DirNode): Promise<void> {
  const problems: string[] = [];
  const files: { path: string; node: FileNode }[] = [];
  walk(tree, (path, node) => {
    const name = path[path.length - 1] ?? '';
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) problems.push(`bad name ${JSON.stringify(path)}`);
    if (node.kind === 'symlink' && (node.target === '' || node.target.includes('\0'))) problems.push(`bad symlink target at ${path.join('/')}`);
    if (node.kind === 'file') files.push({ path: path.join('/'), node });
  });
  if (problems.length > 0) throw new Error(`applied tree breaks invariants: ${problems.slice(0, 5).join('; ')}`);
  for (const { path, node } of files) {
    const content = openContent(node.content, node.size);
    let n = 0;
    if (Buffer.isBuffer(content)) n = content.length;
    else for await (const chunk of content) n += (chunk as Buffer).length;
    if (n !== node.size) throw new Error(`file ${path}: ${n} bytes readable, its node says ${node.size}`);
  }
}

/** Removes a materialized tree, whatever modes it was given (as a user other than root, a 0000 directory blocks rm). */
function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    execFileSync('chmod', ['-R', 'u+rwx', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const target: FuzzTarget<State> = {
  name: 'fuzz-layer',
  unit: 'tar layers',
  load,
  generate,
  async start(state) {
    const spill = SpillDir.create();
    const blob = tar(baseLayerEntries());
    const layer = layerFrom({ descriptor: { mediaType: MediaType.OciLayer, digest: sha256(blob), size: blob.length }, diffId: sha256(blob), open: async () => Readable.from([blob]) });
    const tree = await applyLayer(emptyDir(), await layer.openUncompressed(), { spill });
    state.base = { layer, tree, spill };
  },
  async run(state, input, ctx) {
    const base = state.base!;
    const nl = Buffer.from(input).indexOf(0x0a);
    const meta = JSON.parse(Buffer.from(input.subarray(0, nl)).toString('utf8')) as CaseMeta;
    const blob = Buffer.from(input.subarray(nl + 1));
    const layer = layerOf(blob, meta);
    const spill = SpillDir.create();
    const work = mkdtempSync(join(tmpdir(), 'case-'));
    try {
      const tree = await ctx.stage('apply', async () => applyLayer(meta.onBase ? base.tree : emptyDir(), await layer.openUncompressed(), { spill, limits: LIMITS }));
      if (tree !== undefined) {
        await ctx.stage('tree', () => checkTree(tree));
        if (meta.materialize) {
          await ctx.stage('materialize', async () => {
            await materialize(tree, join(work, 'rootfs'));
            // Beside it, in the case's folder, nothing may appear (an escape by `..` would land here; one
            // by an absolute path leaves the run folder, which the write check catches).
            const beside = readdirSync(work);
            if (beside.length !== 1 || beside[0] !== 'rootfs') throw new Error(`materialize wrote beside its destination: ${beside.join(', ')}`);
          });
        }
      }
      await ctx.stage('index', () => indexLayer(layer));
      await ctx.stage('lowest-needed', async () => {
        const from = await lowestNeededLayer([base.layer, layer], sourcePaths(meta.sources), indexLayer);
        if (from !== 0 && from !== 1) throw new Error(`lowestNeededLayer answered ${from} for 2 layers`);
      });
      if (meta.extract) {
        const extracted = await ctx.stage('extract', () => extractTarInto(base.tree, '/dest', { kind: 'bytes', data: blob }, IMPLIED_DIR, { spill, limits: LIMITS }));
        if (extracted !== undefined) await ctx.stage('extract-tree', () => checkTree(extracted));
      }
    } finally {
      spill.dispose();
      removeTree(work);
    }
  },
  async stop(state) {
    state.base?.spill.dispose();
  },
};

runFuzz(target, import.meta.url, 10_000);
