import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Compression, packLayer, type TarWriteEntry } from '../lib/archive/index.ts';
import { changesToEntries, diff, emptyDir, hostTree } from '../lib/vfs/index.ts';
import { type ContextSpec, makeContext } from './make-context.ts';
import { type Contender, measureRounds, type Sample, timeCommand } from './measure.ts';
import { renderTable, type Row, row } from './report.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';
import { medianMs, throughputTarget } from './targets.ts';

/**
 * The full run's tree for this section (issue 8: "the layer pipeline on a
 * 200 MB tree"): the shape of section 2's context, scaled to about 200 MB:
 * 10,000 text files of 1–16 KiB + 3 × 36 MiB (64 KiB blocks half random,
 * half text). BENCH_QUICK uses the shared quick context instead.
 */
export const FULL_PIPELINE_TREE: ContextSpec = { smallFiles: 10_000, minSmall: 1024, maxSmall: 16 * 1024, largeFiles: 3, largeSize: 36 << 20, seed: 'kiln-bench-pipeline-v1' };

interface Variant {
  label: string;
  compression: Compression;
  level?: number;
  /** The shell pipeline doing the same job; `none` hashes the tar itself. */
  shell: string;
}

const VARIANTS: readonly Variant[] = [
  { label: 'gzip -6', compression: 'gzip', level: 6, shell: 'gzip -6 | sha256sum' },
  { label: 'gzip -1', compression: 'gzip', level: 1, shell: 'gzip -1 | sha256sum' },
  { label: 'no compression', compression: 'none', shell: 'sha256sum' },
];

/**
 * Section 3: the layer pipeline alone, in this process: packLayer over the
 * context's entries (tar → sha256 → gzip), its output hashed the way a
 * content store does, against `tar | gzip | sha256sum`. Reading the files is
 * part of both; walking the tree is timed separately. With `spec`, the tree
 * is generated for this section (under WORK/pipeline-tree); without, it is
 * the shared context of section 2.
 */
export async function benchLayerPipeline(env: BenchEnv, runs: number, spec?: ContextSpec): Promise<SectionResult> {
  let context = env.context;
  if (spec !== undefined) {
    const dir = join(env.work, 'pipeline-tree');
    env.log(`layer pipeline: generating a tree of ${spec.smallFiles + spec.largeFiles} files`);
    context = { dir, ...makeContext(dir, spec) };
  }
  const walkOnce = (): TarWriteEntry[] => {
    const tree = hostTree(context.dir);
    return changesToEntries(tree, diff(emptyDir(), tree));
  };
  let entries = walkOnce();
  const walk: Contender = {
    name: 'walk',
    run: () => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      entries = walkOnce();
      return { walk: { ms: performance.now() - t0, cpuMs: cpuMs(process.cpuUsage(cpu0)) } };
    },
  };
  const timeFile = `${env.work}/time.out`;
  const contenders: Contender[] = [walk];
  const commands: string[] = [];
  for (const v of VARIANTS) {
    contenders.push({ name: `kiln ${v.label}`, run: async () => ({ [`kiln ${v.label}`]: await pack(entries, v) }) });
    const argv = ['bash', '-c', `set -o pipefail; tar -C "$1" -cf - . | ${v.shell} >/dev/null`, 'bench', context.dir];
    contenders.push({ name: `shell ${v.label}`, run: () => ({ [`shell ${v.label}`]: timeCommand(argv, { timeFile }) }) });
    commands.push(shellLine(argv));
  }
  env.log(`layer pipeline: ${contenders.length} contenders × ${runs} runs (+1 warm-up)`);
  const samples = await measureRounds(contenders, { runs, warmup: 1, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
  const bytes = context.bytes;
  const rows: Row[] = [row(`walk: hostTree + diff + changesToEntries (${entries.length} entries)`, samples.get('walk'))];
  for (const v of VARIANTS) {
    const k = row(`**kiln packLayer ${v.label}**`, samples.get(`kiln ${v.label}`), { bytes });
    const kilnMs = k.wall?.median;
    rows.push(k, row(`tar \\| ${v.shell.replace(/\|/g, '\\|')}`, samples.get(`shell ${v.label}`), kilnMs === undefined ? { bytes } : { bytes, kilnMs }));
  }
  const title = `3. Layer pipeline alone, ${context.files} files, ${(bytes / 1e6).toFixed(1)} MB of file content (${runs} runs; MB/s of file content)`;
  const about =
    spec === undefined
      ? 'The tree is the context of section 2.'
      : `The tree (WORK/pipeline-tree): ${spec.smallFiles} text files of ${spec.minSmall / 1024}–${spec.maxSmall / 1024} KiB in nested directories + ${spec.largeFiles} × ${spec.largeSize / 2 ** 20} MiB (64 KiB blocks, half random, half text), make-context.ts with seed ${spec.seed}.`;
  const target = throughputTarget('pipeline', medianMs(samples, 'kiln gzip -6'), 'tar | gzip -6 | sha256sum', medianMs(samples, 'shell gzip -6'), bytes);
  target.target += ` (${(bytes / 1e6).toFixed(0)} MB tree)`;
  return {
    markdown: `${renderTable({ title, rows, cpu: true, mbps: true })}\n\n${about} kiln / this compares each shell row with the **kiln** row above it; its inverse is the throughput ratio (kiln's MB/s over the shell's).`,
    commands: ['packLayer(entries, { compression, level }) → sha256 of the output, in process', ...commands],
    targets: [target],
  };
}

/** One packLayer pass, consumed the way the content store consumes it (hashing the compressed bytes). */
async function pack(entries: readonly TarWriteEntry[], v: Variant): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { stream, uncompressed } = packLayer(entries, v.level === undefined ? { compression: v.compression } : { compression: v.compression, level: v.level });
  const hash = createHash('sha256');
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    }),
  );
  await uncompressed;
  hash.digest();
  const ms = performance.now() - t0;
  return { ms, cpuMs: cpuMs(process.cpuUsage(cpu0)) };
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}
