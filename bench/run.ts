/**
 * `make bench`: kiln next to its peers, all measured in the same run (timings
 * on these machines swing 2× between runs, so only same-run ratios mean
 * anything). Prints the tables and writes them to bench/results/<date>.md.
 * BENCH_QUICK=1: a smaller context and fewer runs (a smoke run of about a
 * minute, plus a few for sections 6 and 7). BENCH_RUNS=N: N timed runs in
 * sections 2 to 7. BENCH_SECTIONS=builds,seed: only those sections (names
 * in SECTIONS; default all). BENCH_KEEP=1: keep the scratch folder.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchApplyLayer, FULL_LAYERS, QUICK_LAYERS } from './apply-layer.ts';
import { benchBuildContext } from './build-context.ts';
import { benchBuilds, FULL_COPY_CONTEXT, QUICK_COPY_CONTEXT } from './builds.ts';
import { benchCliStart } from './cli-start.ts';
import { stopDockerdsSync } from './dockerd.ts';
import { benchLayerPipeline } from './layer-pipeline.ts';
import { type ContextSpec, makeContext } from './make-context.ts';
import { benchRegistry, FULL_IMAGE, QUICK_IMAGE } from './registry.ts';
import { capture, haveGnuTime } from './measure.ts';
import { ensurePeer, type Peer } from './peers.ts';
import type { BenchEnv, SectionResult } from './section.ts';
import { benchSeed } from './seed-build.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const log = (s: string): void => void process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);

interface Config {
  quick: boolean;
  spec: ContextSpec;
  cliRuns: number;
  runs: number;
  /** Sections 6 and 7: each run is a cold build and a rebuild per builder, so fewer of them. */
  buildRuns: number;
  buildWarmup: number;
  sections: readonly SectionName[];
}

/** The sections in report order; BENCH_SECTIONS picks some by these names. */
const SECTIONS = ['cli', 'context', 'pipeline', 'registry', 'apply', 'builds', 'seed'] as const;
type SectionName = (typeof SECTIONS)[number];
/** Sections that use the generated context of sections 2 and 3. */
const NEEDS_CONTEXT: readonly SectionName[] = ['context', 'pipeline'];
/** Sections that drive dockerd and RUN sandboxes. */
const NEEDS_BUILDERS: readonly SectionName[] = ['builds', 'seed'];

function selectedSections(): SectionName[] {
  const raw = process.env.BENCH_SECTIONS?.trim();
  if (raw === undefined || raw === '') return [...SECTIONS];
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`BENCH_SECTIONS: unknown section(s) ${unknown.join(', ')}; the sections are ${SECTIONS.join(', ')}`);
  return SECTIONS.filter((s) => names.includes(s));
}

function config(): Config {
  const quick = process.env.BENCH_QUICK === '1';
  const runsEnv = Number(process.env.BENCH_RUNS);
  const runsSet = Number.isInteger(runsEnv) && runsEnv > 0;
  const runs = runsSet ? runsEnv : quick ? 3 : 5;
  const spec: ContextSpec = quick
    ? { smallFiles: 1000, minSmall: 1024, maxSmall: 16 * 1024, largeFiles: 3, largeSize: 4 << 20, seed: 'kiln-bench-v1' }
    : { smallFiles: 5000, minSmall: 1024, maxSmall: 16 * 1024, largeFiles: 3, largeSize: 20 << 20, seed: 'kiln-bench-v1' };
  return { quick, spec, cliRuns: quick ? 15 : 21, runs, buildRuns: runsSet ? runsEnv : 3, buildWarmup: quick ? 0 : 1, sections: selectedSections() };
}

function probePeers(sections: readonly SectionName[]): Map<string, Peer> {
  const peers = new Map<string, Peer>();
  const wanted: [string, string][] = [['buildah', 'buildah'], ['skopeo', 'skopeo'], ['umoci', 'umoci']];
  if (sections.some((s) => NEEDS_BUILDERS.includes(s))) wanted.push(['dockerd', 'docker.io'], ['bwrap', 'bubblewrap']);
  for (const [cmd, pkg] of wanted) {
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
    `- load average at the start (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}`,
  ];
}

function report(cfg: Config, env: BenchEnv, info: string[], sections: SectionResult[], took: string[]): string {
  const s = cfg.spec;
  const ctx = `${s.smallFiles} text files of ${s.minSmall / 1024}–${s.maxSmall / 1024} KiB in nested dirs + ${s.largeFiles} × ${s.largeSize / 2 ** 20} MiB (64 KiB blocks, half random, half text), seed ${s.seed}: ${env.context.files} files, ${(env.context.bytes / 1e6).toFixed(1)} MB`;
  const all = cfg.sections.length === SECTIONS.length;
  return [
    `# kiln benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${cfg.quick ? ' (BENCH_QUICK)' : ''}`,
    '',
    ...info,
    ...(all ? [] : [`- sections: ${cfg.sections.join(', ')} (BENCH_SECTIONS)`]),
    ...(cfg.sections.some((x) => NEEDS_CONTEXT.includes(x)) ? [`- context: ${ctx}`] : []),
    `- time per section (setup included): ${took.join(', ')}; load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`,
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
  log(`sections: ${cfg.sections.join(', ')}`);
  const peers = probePeers(cfg.sections);
  const work = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  const cleanup = (): void => {
    stopDockerdsSync();
    if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const dir = join(work, 'context');
    let context = { dir, files: 0, bytes: 0 };
    if (cfg.sections.some((s) => NEEDS_CONTEXT.includes(s))) {
      log(`generating the context in ${work}`);
      context = { dir, ...makeContext(dir, cfg.spec) };
    }
    const env: BenchEnv = { kilnCli: join(ROOT, 'cli', 'kiln.js'), work, context, peers, log };
    const info = machine(peers);
    const run: Record<SectionName, () => Promise<SectionResult>> = {
      cli: () => benchCliStart(env, cfg.cliRuns),
      context: () => benchBuildContext(env, cfg.runs),
      pipeline: () => benchLayerPipeline(env, cfg.runs),
      registry: () => benchRegistry(env, cfg.runs, cfg.quick ? QUICK_IMAGE : FULL_IMAGE),
      apply: () => benchApplyLayer(env, cfg.runs, cfg.quick ? QUICK_LAYERS : FULL_LAYERS),
      builds: () => benchBuilds(env, cfg.buildRuns, cfg.buildWarmup, cfg.quick ? QUICK_COPY_CONTEXT : FULL_COPY_CONTEXT),
      seed: () => benchSeed(env, cfg.buildRuns, cfg.buildWarmup),
    };
    const sections: SectionResult[] = [];
    const took: string[] = [];
    for (const name of cfg.sections) {
      const t0 = Date.now();
      sections.push(await run[name]());
      const s = (Date.now() - t0) / 1000;
      took.push(`${name} ${s >= 90 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`}`);
      log(`section ${name} took ${s.toFixed(0)} s`);
    }
    const text = report(cfg, env, info, sections, took);
    const resultsDir = join(ROOT, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    // A partial run gets its own file, so it does not replace the day's full results.
    const subset = cfg.sections.length === SECTIONS.length ? '' : `-${cfg.sections.join('+')}`;
    const file = join(resultsDir, `${new Date().toISOString().slice(0, 10)}${cfg.quick ? '-quick' : ''}${subset}.md`);
    writeFileSync(file, text);
    process.stdout.write(`\n${text}\n`);
    log(`done; written to ${file}`);
  } finally {
    cleanup();
  }
}

await main();
