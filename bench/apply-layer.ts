import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ContextSpec, makeContext } from './make-context.ts';
import { type Contender, measureRounds, type Sample, scrub, timeCommand } from './measure.ts';
import { renderTable, type Row, row } from './report.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';
import { medianOf, summarize } from './stats.ts';

/** The generated image: three layers, made from folders by GNU tar. */
export interface LayerSetSpec {
  /** Layer 1: a build-context-like tree (make-context.ts). */
  base: ContextSpec;
  /** Layer 1 also gets a symlink next to every n-th small file, and a hard link next to every 5n-th. */
  linkEvery: number;
  /** Layer 2 rewrites every n-th small file of layer 1 and whites out the one after it. */
  changeEvery: number;
  /** Layer 3: a second tree under `opt/extra/`. */
  added: ContextSpec;
}

export const FULL_LAYERS: LayerSetSpec = {
  base: { smallFiles: 40_000, minSmall: 512, maxSmall: 6 * 1024, largeFiles: 3, largeSize: 24 << 20, seed: 'kiln-bench-apply-v1' },
  linkEvery: 100,
  changeEvery: 20,
  added: { smallFiles: 5_000, minSmall: 512, maxSmall: 6 * 1024, largeFiles: 1, largeSize: 16 << 20, seed: 'kiln-bench-apply-v1-added' },
};

export const QUICK_LAYERS: LayerSetSpec = {
  base: { smallFiles: 4_000, minSmall: 512, maxSmall: 6 * 1024, largeFiles: 2, largeSize: 4 << 20, seed: 'kiln-bench-apply-v1' },
  linkEvery: 100,
  changeEvery: 20,
  added: { smallFiles: 500, minSmall: 512, maxSmall: 6 * 1024, largeFiles: 1, largeSize: 2 << 20, seed: 'kiln-bench-apply-v1-added' },
};

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = 'bench/apply-layer-child.ts';
const MTIME = 1_704_067_200; // 2024-01-01, as make-context.ts
/** GNU tar flags that make a layer a function of the folder's names, sizes, contents and link targets. */
const TAR_CREATE = ['--sort=name', '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${MTIME}`, '--mode=u+rw,go-w'];

/** A path in a layer folder, relative, as `ls -R` order would give it (names in byte order). */
interface FsEntry {
  rel: string;
  kind: 'dir' | 'file' | 'symlink';
  size: number;
  target?: string;
}

function listTree(dir: string, prefix = ''): FsEntry[] {
  const out: FsEntry[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix === '' ? name : `${prefix}/${name}`;
    const st = lstatSync(join(dir, rel));
    if (st.isDirectory()) out.push({ rel, kind: 'dir', size: 0 }, ...listTree(dir, rel));
    else if (st.isSymbolicLink()) out.push({ rel, kind: 'symlink', size: 0, target: readlinkSync(join(dir, rel)) });
    else out.push({ rel, kind: 'file', size: st.size });
  }
  return out;
}

/** `size` bytes from the AES-256-CTR keystream under sha256(seed): hex text, or raw (incompressible) bytes. */
function bytesOf(seed: string, size: number, raw = false): Buffer {
  const ks = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  if (raw) return ks.update(Buffer.alloc(size));
  return Buffer.from(ks.update(Buffer.alloc(Math.ceil(size / 2))).toString('hex').slice(0, size), 'latin1');
}

function writeAt(root: string, rel: string, data: Buffer): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), data);
}

/** Layer 1: the base tree plus symlinks and hard links next to some of its files. */
function makeBase(root: string, spec: LayerSetSpec): FsEntry[] {
  makeContext(root, spec.base);
  const small = listTree(root).filter((e) => e.kind === 'file' && !e.rel.startsWith('assets/'));
  small.forEach((e, i) => {
    if (i % spec.linkEvery === 0) symlinkSync(basename(e.rel), join(root, `${e.rel}.lnk`));
    if (i % (5 * spec.linkEvery) === 3) linkSync(join(root, e.rel), join(root, `${e.rel}.hl`));
  });
  return small;
}

/**
 * Layer 2: every `changeEvery`-th small file rewritten (larger), the next one
 * whited out, one depth-2 directory whited out whole, another made opaque
 * with new contents, one file replaced by a directory, and a large file
 * rewritten. Returns the whited-out files.
 */
function makeChanges(root: string, base: readonly FsEntry[], spec: LayerSetSpec): FsEntry[] {
  const dirs = [...new Set(base.map((e) => e.rel.split('/').slice(0, 2).join('/')).filter((d) => d.includes('/') && !d.endsWith('.txt')))].sort();
  const gone = dirs[dirs.length - 1]!;
  const opaque = dirs[dirs.length - 2]!;
  const inside = (rel: string, d: string): boolean => rel.startsWith(`${d}/`);
  writeAt(root, `${dirname(gone)}/.wh.${basename(gone)}`, Buffer.alloc(0));
  writeAt(root, `${opaque}/.wh..wh..opq`, Buffer.alloc(0));
  for (let i = 0; i < 20; i++) writeAt(root, `${opaque}/new${i}.txt`, bytesOf(`opaque ${i}`, 2048));
  const deleted: FsEntry[] = [];
  let replaced = false;
  base.forEach((e, i) => {
    if (inside(e.rel, gone) || inside(e.rel, opaque)) return;
    const k = i % spec.changeEvery;
    if (k === 0) writeAt(root, e.rel, bytesOf(`rewrite ${e.rel}`, e.size + 1000));
    else if (k === 1) {
      writeAt(root, `${dirname(e.rel)}/.wh.${basename(e.rel)}`, Buffer.alloc(0));
      deleted.push(e);
    } else if (k === 2 && !replaced) {
      writeAt(root, `${e.rel}/was-a-file.txt`, bytesOf(`dir ${e.rel}`, 100));
      replaced = true;
    }
  });
  const large = `assets/blob${spec.base.largeFiles - 1}.bin`;
  writeAt(root, large, bytesOf(`rewrite ${large}`, spec.base.largeSize, true));
  return deleted;
}

/** Layer 3: a new tree under opt/extra, and every tenth whited-out file back with new content. */
function makeAdditions(root: string, deleted: readonly FsEntry[], spec: LayerSetSpec): void {
  mkdirSync(join(root, 'opt'), { recursive: true });
  makeContext(join(root, 'opt', 'extra'), spec.added);
  deleted.forEach((e, i) => {
    if (i % 10 === 0) writeAt(root, e.rel, bytesOf(`back ${e.rel}`, e.size));
  });
}

/**
 * The tree the layers should apply to, worked out from the layer folders
 * with OCI's rules, independently of kiln: per layer, opaque markers and
 * whiteouts first (they hide lower layers only), then its entries (a
 * non-directory replacing a directory drops its subtree).
 */
function expectedListing(layerDirs: readonly string[]): { entries: number; files: number; bytes: number; listing: string } {
  const state = new Map<string, FsEntry>();
  const dropBelow = (p: string): void => {
    for (const k of [...state.keys()]) if (k.startsWith(`${p}/`)) state.delete(k);
  };
  const drop = (p: string): void => {
    if (state.get(p)?.kind === 'dir') dropBelow(p);
    state.delete(p);
  };
  for (const dir of layerDirs) {
    const entries = listTree(dir);
    for (const e of entries) {
      const name = basename(e.rel);
      const parent = dirname(e.rel) === '.' ? '' : dirname(e.rel);
      if (name === '.wh..wh..opq') dropBelow(parent);
      else if (name.startsWith('.wh.')) drop(parent === '' ? name.slice(4) : `${parent}/${name.slice(4)}`);
    }
    for (const e of entries) {
      if (basename(e.rel).startsWith('.wh.')) continue;
      if (e.kind !== 'dir') drop(e.rel);
      state.set(e.rel, e);
    }
  }
  const lines = [...state.values()].map((e) => `${e.rel}\t${e.kind === 'file' ? `file ${e.size}` : e.kind === 'symlink' ? `symlink ${e.target!}` : 'dir'}`).sort();
  const files = [...state.values()].filter((e) => e.kind === 'file');
  return { entries: lines.length, files: files.length, bytes: files.reduce((n, e) => n + e.size, 0), listing: createHash('sha256').update(lines.join('\n')).digest('hex') };
}

interface LayerSet {
  tars: string[];
  /** Sizes of the tars: the uncompressed input. */
  sizes: number[];
  /** Entries per tar (`tar -t` lines). */
  counts: number[];
  expected: ReturnType<typeof expectedListing>;
  tarCommand: string;
}

/** Generates the layer folders under `dir`/gen, tars them into `dir`/layers, and removes the folders. */
function makeLayerSet(dir: string, spec: LayerSetSpec): LayerSet {
  const gen = [1, 2, 3].map((n) => join(dir, 'gen', String(n)));
  mkdirSync(join(dir, 'gen'));
  const base = makeBase(gen[0]!, spec);
  const deleted = makeChanges(gen[1]!, base, spec);
  makeAdditions(gen[2]!, deleted, spec);
  const expected = expectedListing(gen);
  mkdirSync(join(dir, 'layers'));
  const tars = gen.map((g, i) => {
    const tar = join(dir, 'layers', `layer${i + 1}.tar`);
    const r = spawnSync('tar', ['-C', g, ...TAR_CREATE, '-cf', tar, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`tar -cf ${tar}: ${r.stderr.toString('utf8')}`);
    return tar;
  });
  const counts = tars.map((t) => spawnSync('tar', ['-tf', t], { maxBuffer: 256 << 20 }).stdout.toString('utf8').split('\n').filter(Boolean).length);
  rmSync(join(dir, 'gen'), { recursive: true, force: true });
  return { tars, sizes: tars.map((t) => statSync(t).size), counts, expected, tarCommand: shellLine(['tar', '-C', 'DIR', ...TAR_CREATE, '-cf', 'LAYER.tar', '.']) };
}

/** The child's JSON answer (see apply-layer-child.ts). */
function readChild(file: string): { ms: number; [k: string]: unknown } {
  const v = JSON.parse(readFileSync(file, 'utf8')) as { ms: number };
  rmSync(file);
  return v;
}

/**
 * Section 5: applying an image of three uncompressed layers (~300 MB, ~50k
 * entries, whiteouts, an opaque directory, links) with kiln's applyLayer,
 * and re-diffing the result into one layer, against GNU `tar -xf` of the
 * same tars into tmpfs. Every contender is its own process, so peak RSS is
 * its own; everything (layers, extraction, spill files) is on tmpfs, so the
 * disk does not enter into it.
 */
export async function benchApplyLayer(env: BenchEnv, runs: number, spec: LayerSetSpec): Promise<SectionResult> {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : env.work, 'kiln-bench-apply-'));
  try {
    env.log(`apply-layer: generating the layers in ${dir}`);
    const set = makeLayerSet(dir, spec);
    const bytes = set.sizes.reduce((a, b) => a + b, 0);
    env.log(`apply-layer: ${set.tars.length} layers, ${(bytes / 1e6).toFixed(0)} MB of tar, ${set.counts.join(' + ')} entries`);
    const [extract, spill, out, timeFile] = ['extract', 'spill', 'child.json', 'time.out'].map((n) => join(dir, n)) as [string, string, string, string];
    const child = (mode: string): string[] => [process.execPath, '--import', 'tsx', CHILD, mode, spill, out, ...set.tars];
    const tarArgv = ['bash', '-c', 'set -e; d=$1; shift; for l; do tar -C "$d" -xf "$l"; done', 'bench', extract, ...set.tars];
    checkApplied(child('stats'), spill, out, set.expected);
    const diffIds = new Set<string>();
    const kiln = (name: string, mode: string): Contender => ({
      name,
      before: () => mkdirSync(spill),
      run: () => {
        const proc = timeCommand(child(mode), { cwd: ROOT, timeFile });
        const res = readChild(out);
        if (typeof res.diffId === 'string') diffIds.add(res.diffId);
        return { [name]: proc, [`${name} (in process)`]: { ms: res.ms } };
      },
      after: () => scrub(spill),
    });
    const contenders: Contender[] = [
      { name: 'tar', before: () => mkdirSync(extract), run: () => ({ tar: timeCommand(tarArgv, { timeFile }) }), after: () => scrub(extract) },
      kiln('apply', 'apply'),
      kiln('rediff', 'rediff'),
      kiln('noop', 'noop'),
    ];
    env.log(`apply-layer: ${contenders.length} contenders × ${runs} runs (+1 warm-up)`);
    const samples = await measureRounds(contenders, { runs, warmup: 1, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
    if (diffIds.size > 1) throw new Error(`apply-layer: the re-diffed layer differs between runs: ${[...diffIds].join(', ')}`);
    const title = `5. Apply ${set.tars.length} uncompressed layers, ${(bytes / 1e6).toFixed(1)} MB of tar (${set.counts.join(' + ')} entries), and re-diff them, all on tmpfs (${runs} runs; MB/s of tar input)`;
    const markdown = `${renderTable({ title, rows: rows(samples, bytes), cpu: true, rss: true, mbps: true })}\n\n${notes(samples, set, spec, bytes)}`;
    const commands = [
      `# layers made from folders with: ${set.tarCommand}; APPLY is this section's tmpfs folder (mktemp -d /dev/shm/kiln-bench-apply-XXXX)`,
      shellLine(tarArgv),
      ...['apply', 'rediff', 'noop'].map((m) => shellLine(child(m))),
    ].map((c) => c.replaceAll(dir, '$APPLY'));
    return { markdown, commands };
  } finally {
    if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
}

/** Applies the layers once (untimed) and compares kiln's tree with the expected listing: a benchmark of a wrong result is no benchmark. */
function checkApplied(argv: readonly string[], spill: string, out: string, expected: LayerSet['expected']): void {
  mkdirSync(spill);
  timeCommand(argv, { cwd: ROOT });
  scrub(spill);
  const got = readChild(out);
  for (const k of ['entries', 'files', 'bytes', 'listing'] as const) {
    if (got[k] !== expected[k]) throw new Error(`apply-layer: kiln's applied tree differs from the expected one in ${k}: ${String(got[k])}, expected ${expected[k]}`);
  }
}

function median(samples: readonly Sample[] | undefined): number | undefined {
  return samples === undefined || samples.length === 0 ? undefined : summarize(samples.map((s) => s.ms)).median;
}

function rows(samples: ReadonlyMap<string, Sample[]>, bytes: number): Row[] {
  const applyMs = median(samples.get('apply'));
  return [
    row('**kiln applyLayer** × 3, whole process', samples.get('apply'), { bytes }),
    row('kiln applyLayer × 3, in process (after module loading)', samples.get('apply (in process)'), { bytes }),
    row('**kiln apply + diff + changesToLayer** (no compression) → /dev/null, whole process', samples.get('rediff'), { bytes }),
    row('kiln apply + diff + changesToLayer, in process', samples.get('rediff (in process)'), { bytes }),
    row('kiln child start-up alone (node + tsx + lib/vfs)', samples.get('noop')),
    row('`tar -xf` × 3 in order → tmpfs (the peer; no whiteouts)', samples.get('tar'), applyMs === undefined ? { bytes } : { bytes, kilnMs: applyMs }),
  ];
}

/** The kiln/tar ratios of every kiln row, and the goal of issue 5 (peak RSS under 300 MB, within 2× of tar). */
function notes(samples: ReadonlyMap<string, Sample[]>, set: LayerSet, spec: LayerSetSpec, bytes: number): string {
  const tarMs = median(samples.get('tar'));
  const ratio = (name: string): string => {
    const ms = median(samples.get(name));
    return ms === undefined || tarMs === undefined ? '–' : `${(ms / tarMs).toFixed(2)}×`;
  };
  const cpuRatio = (name: string): string => {
    const cpu = (n: string): number | undefined => medianOf(samples.get(n)?.map((x) => x.cpuMs) ?? []);
    const [k, t] = [cpu(name), cpu('tar')];
    return k === undefined || t === undefined ? '–' : `${(k / t).toFixed(2)}×`;
  };
  const rss = (name: string): string => {
    const kib = samples.get(name)?.map((s) => s.rssKiB).filter((x): x is number => x !== undefined) ?? [];
    if (kib.length === 0) return 'not measured (no GNU time)';
    const max = Math.max(...kib) * 1024;
    return `${(summarize(kib).median * 1024 / 1e6).toFixed(0)} MB median, ${(max / 1e6).toFixed(0)} MB max (${max < 300e6 ? 'under' : 'OVER'} 300 MB)`;
  };
  const e = set.expected;
  return [
    `kiln / tar -xf (medians): apply ${ratio('apply')} whole process, ${ratio('apply (in process)')} in process; apply + re-diff ${ratio('rediff')} whole process, ${ratio('rediff (in process)')} in process. Goal (issue 5): within 2×. By CPU time (whole process; steadier than wall time when the machine is shared): apply ${cpuRatio('apply')}, apply + re-diff ${cpuRatio('rediff')}.`,
    `Peak RSS: apply ${rss('apply')}; apply + re-diff ${rss('rediff')}; start-up alone ${rss('noop')}.`,
    '',
    `The layers (${set.sizes.map((s) => `${(s / 1e6).toFixed(1)} MB`).join(' + ')} = ${(bytes / 1e6).toFixed(1)} MB): 1. ${tree(spec.base)} (make-context.ts), a symlink next to every ${spec.linkEvery}th small file and a hard link next to every ${5 * spec.linkEvery}th; ` +
      `2. every ${spec.changeEvery}th small file rewritten, the next one whited out, one directory whited out whole, one made opaque with new files, a file replaced by a directory, a ${spec.base.largeSize / 2 ** 20} MiB file rewritten; ` +
      `3. ${tree(spec.added)} under opt/extra/, and a tenth of the deleted files back. The applied image: ${e.entries} entries, ${e.files} files, ${(e.bytes / 1e6).toFixed(1)} MB. ` +
      'Before timing, kiln\'s applied tree is checked against a listing worked out from the layer folders (paths, kinds, sizes, link targets). ' +
      'GNU tar extracts whiteouts as empty files and deletes nothing, so it does a little less than a real apply; kiln writes file contents into one spill file per layer (on tmpfs too) instead of one file per entry. ' +
      'The re-diff writes the whole image as one uncompressed layer (the layer compression itself is section 3); its diffID is the same in every run.',
  ].join('\n');
}

function tree(c: ContextSpec): string {
  return `${c.smallFiles} files of ${c.minSmall}–${c.maxSmall} B in nested directories + ${c.largeFiles} × ${c.largeSize / 2 ** 20} MiB`;
}
