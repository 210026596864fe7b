/**
 * `make bench`: kiln next to its peers, all measured in the same run (timings
 * on these machines swing 2× between runs, so only same-run ratios mean
 * anything). Prints the tables and writes them to bench/results/<date>.md.
 * BENCH_QUICK=1: a smaller context and fewer runs (a smoke run of about a
 * minute). BENCH_RUNS=N: N timed runs for sections 2 and 3. BENCH_KEEP=1:
 * keep the scratch folder.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchApplyLayer, FULL_LAYERS, QUICK_LAYERS } from './apply-layer.ts';
import { benchBuildContext } from './build-context.ts';
import { benchCliStart } from './cli-start.ts';
import { benchLayerPipeline } from './layer-pipeline.ts';
import { type ContextSpec, makeContext } from './make-context.ts';
import { benchRegistry, FULL_IMAGE, QUICK_IMAGE } from './registry.ts';
import { capture, haveGnuTime } from './measure.ts';
import { ensurePeer, type Peer } from './peers.ts';
import type { BenchEnv, SectionResult } from './section.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const log = (s: string): void => void process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);

interface Config {
  quick: boolean;
  spec: ContextSpec;
  cliRuns: number;
  runs: number;
}

function config(): Config {
  const quick = process.env.BENCH_QUICK === '1';
  const runsEnv = Number(process.env.BENCH_RUNS);
  const runs = Number.isInteger(runsEnv) && runsEnv > 0 ? runsEnv : quick ? 3 : 5;
  const spec: ContextSpec = quick
    ? { smallFiles: 1000, minSmall: 1024, maxSmall: 16 * 1024, largeFiles: 3, largeSize: 4 << 20, seed: 'kiln-bench-v1' }
    : { smallFiles: 5000, minSmall: 1024, maxSmall: 16 * 1024, largeFiles: 3, largeSize: 20 << 20, seed: 'kiln-bench-v1' };
  return { quick, spec, cliRuns: quick ? 15 : 21, runs };
}

function probePeers(): Map<string, Peer> {
  const peers = new Map<string, Peer>();
  for (const [cmd, pkg] of [['buildah', 'buildah'], ['skopeo', 'skopeo'], ['umoci', 'umoci']] as const) {
    const p = ensurePeer(cmd, pkg, log);
    peers.set(cmd, p);
    log(p.ok ? `peer ${p.version}` : `peer ${cmd} skipped: ${p.reason}`);
  }
  return peers;
}

function machine(peers: ReadonlyMap<string, Peer>): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const head = capture(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']) ?? 'unknown';
  const dirty = (capture(['git', '-C', ROOT, 'status', '--porcelain', '--', 'lib', 'cli']) ?? '') !== '' ? ' + uncommitted changes in lib/ or cli/' : '';
  return [
    `- machine: ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}`,
    `- kiln ${pkg.version} at ${head}${dirty}, Node ${process.version} (kiln runs through tsx, transpiling at start)`,
    ...[...peers.values()].map((p) => (p.ok ? `- ${p.version}` : `- ${p.name}: skipped (${p.reason})`)),
    `- GNU time for CPU and peak RSS: ${haveGnuTime() ? '/usr/bin/time' : 'missing, so no CPU/RSS columns for commands'}`,
  ];
}

function report(cfg: Config, env: BenchEnv, info: string[], sections: SectionResult[]): string {
  const s = cfg.spec;
  const ctx = `${s.smallFiles} text files of ${s.minSmall / 1024}–${s.maxSmall / 1024} KiB in nested dirs + ${s.largeFiles} × ${s.largeSize / 2 ** 20} MiB (64 KiB blocks, half random, half text), seed ${s.seed}: ${env.context.files} files, ${(env.context.bytes / 1e6).toFixed(1)} MB`;
  return [
    `# kiln benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${cfg.quick ? ' (BENCH_QUICK)' : ''}`,
    '',
    ...info,
    `- context: ${ctx}`,
    `- runs are interleaved (round-robin, rotating start) after warm-ups; all numbers are from this one run. kiln / this = ratio of medians: below 1 kiln is faster.`,
    '',
    ...sections.flatMap((x) => [x.markdown, '']),
    '## Commands timed',
    '',
    `From the checkout's root; WORK is the run's scratch folder (\`mktemp -d\`), the context is WORK/context.`,
    '',
    '```',
    ...sections.flatMap((x) => x.commands).map((c) => c.replaceAll(env.work, '$WORK').replaceAll(`${env.kilnCli}`, 'cli/kiln.js').replaceAll(process.execPath, 'node')),
    '```',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const cfg = config();
  log(cfg.quick ? 'BENCH_QUICK: smoke run' : 'full run (BENCH_QUICK=1 for a smoke run)');
  const peers = probePeers();
  const work = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  const cleanup = (): void => {
    if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    log(`generating the context in ${work}`);
    const dir = join(work, 'context');
    const stats = makeContext(dir, cfg.spec);
    const env: BenchEnv = { kilnCli: join(ROOT, 'cli', 'kiln.js'), work, context: { dir, ...stats }, peers, log };
    const info = machine(peers);
    const sections = [await benchCliStart(env, cfg.cliRuns), await benchBuildContext(env, cfg.runs), await benchLayerPipeline(env, cfg.runs), await benchRegistry(env, cfg.runs, cfg.quick ? QUICK_IMAGE : FULL_IMAGE), await benchApplyLayer(env, cfg.runs, cfg.quick ? QUICK_LAYERS : FULL_LAYERS)];
    const text = report(cfg, env, info, sections);
    const resultsDir = join(ROOT, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${new Date().toISOString().slice(0, 10)}${cfg.quick ? '-quick' : ''}.md`);
    writeFileSync(file, text);
    process.stdout.write(`\n${text}\n`);
    log(`done; written to ${file}`);
  } finally {
    cleanup();
  }
}

await main();
