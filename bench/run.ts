/**
 * `make bench`: kiln next to its peers, all measured in the same run (timings
 * on these machines swing 2× between runs, so only same-run ratios mean
 * anything). Prints the tables, with issue 8's targets summarized at the
 * top, and writes them to bench/results/<date>.md; a full run (all
 * sections, not BENCH_QUICK) also to bench/results.md.
 * BENCH_QUICK=1: smaller inputs and fewer runs (a smoke run of about 3.5
 * minutes, 2 of them section 7's seed build). BENCH_RUNS=N: N timed runs in
 * sections 2 to 9. BENCH_SECTIONS=builds,seed: only those sections (names
 * in SECTIONS; default all). BENCH_KEEP=1: keep the scratch folder.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchApplyLayer, FULL_LAYERS, QUICK_LAYERS } from './apply-layer.ts';
import { benchBuildContext } from './build-context.ts';
import { benchBuilds, FULL_COPY_CONTEXT, QUICK_COPY_CONTEXT } from './builds.ts';
import { benchCliStart } from './cli-start.ts';
import { stopDockerdsSync } from './dockerd.ts';
import { benchLayerPipeline, FULL_PIPELINE_TREE } from './layer-pipeline.ts';
import { type ContextSpec, makeContext } from './make-context.ts';
import { benchMemory, FULL_MEMORY_IMAGE, QUICK_MEMORY_IMAGE } from './memory.ts';
import { benchRegistry, FULL_IMAGE, QUICK_IMAGE } from './registry.ts';
import { benchRegistryCache } from './registry-cache.ts';
import { capture, haveGnuTime } from './measure.ts';
import { ensurePeer, type Peer } from './peers.ts';
import type { BenchEnv, SectionResult } from './section.ts';
import { benchSeed } from './seed-build.ts';
import { renderTargets, TARGETS, type TargetResult } from './targets.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const log = (s: string): void => void process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);

interface Config {
  quick: boolean;
  spec: ContextSpec;
  cliRuns: number;
  runs: number;
  /** Sections 6, 7 and 8: each run is a cold build and a rebuild per builder (8: four 1 GB operations), so fewer of them. */
  buildRuns: number;
  buildWarmup: number;
  sections: readonly SectionName[];
}

/** The sections in report order; BENCH_SECTIONS picks some by these names. */
const SECTIONS = ['cli', 'context', 'pipeline', 'registry', 'apply', 'builds', 'seed', 'memory', 'cache'] as const;
type SectionName = (typeof SECTIONS)[number];
/** Sections that use the generated context of sections 2 and 3. */
const NEEDS_CONTEXT: readonly SectionName[] = ['context', 'pipeline'];
/** Sections that drive dockerd. */
const NEEDS_BUILDERS: readonly SectionName[] = ['builds', 'seed', 'cache'];
/** Sections whose builds RUN commands (kiln's sandbox uses bubblewrap when it is there). */
const NEEDS_RUN: readonly SectionName[] = ['seed', 'memory', 'cache'];

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
  if (sections.some((s) => NEEDS_BUILDERS.includes(s))) wanted.push(['dockerd', 'docker.io']);
  if (sections.some((s) => NEEDS_RUN.includes(s))) wanted.push(['bwrap', 'bubblewrap']);
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
    `- kiln ${pkg.version} at ${head}${dirty}, Node ${process.version} (the kiln command loads one esbuild bundle of cli/main.ts, made on its first run: cli/load-main.js)`,
    ...[...peers.values()].map((p) => (p.ok ? `- ${p.version}` : `- ${p.name}: skipped (${p.reason})`)),
    `- GNU time for CPU and peak RSS: ${haveGnuTime() ? '/usr/bin/time' : 'missing, so no CPU/RSS columns for commands'}`,
    `- load average at the start (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}`,
    `- binfmt_misc: ${binfmtHandlers()}`,
  ];
}

/**
 * The registered binfmt_misc handlers. They change BuildKit's times: with
 * Debian's 29 QEMU handlers registered (kiln binfmt --install; the tests do
 * it) Docker 20.10's BuildKit probes the emulators on every build, measured
 * here at about +250 ms per build (section 9's BuildKit build 297 → 560 ms,
 * the same runs of kiln unchanged).
 */
function binfmtHandlers(): string {
  const dir = '/proc/sys/fs/binfmt_misc';
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n !== 'register' && n !== 'status');
  } catch {
    return 'not mounted';
  }
  const enabled = names.filter((n) => {
    try {
      return readFileSync(join(dir, n), 'utf8').startsWith('enabled');
    } catch {
      return false;
    }
  });
  if (enabled.length === 0) return 'no handler registered';
  const qemu = enabled.filter((n) => n.startsWith('qemu-')).length;
  return `${enabled.length} handlers registered (${qemu} QEMU emulators): Docker's BuildKit probes them on every build, which slows its builds (see bench/run.ts binfmtHandlers)`;
}

/** Issue 8's targets as this run measured them; those of sections not run are listed as such. */
function summary(cfg: Config, sections: readonly SectionResult[]): string {
  const measured: TargetResult[] = sections.flatMap((x) => x.targets ?? []);
  const seen = new Set(measured.map((t) => t.order));
  const missing = Object.values(TARGETS).filter((t) => !seen.has(t.order)).map((t) => ({ order: t.order, target: t.target, measured: 'not measured: its section was not run (BENCH_SECTIONS)' }));
  const note = [
    'Each value is a ratio of medians from this one run (sections 3, 4, 6, 7, 8 below, where the tables and the commands are); MB are 10^6 bytes.',
    cfg.quick ? ' **BENCH_QUICK: smaller inputs and fewer runs; these verdicts do not judge the targets.**' : '',
  ].join('');
  return renderTargets([...measured, ...missing], note);
}

function report(cfg: Config, env: BenchEnv, info: string[], sections: SectionResult[], took: string[]): string {
  const s = cfg.spec;
  const ctx = `${s.smallFiles} text files of ${s.minSmall / 1024}–${s.maxSmall / 1024} KiB in nested dirs + ${s.largeFiles} × ${s.largeSize / 2 ** 20} MiB (64 KiB blocks, half random, half text), seed ${s.seed}: ${env.context.files} files, ${(env.context.bytes / 1e6).toFixed(1)} MB`;
  const all = cfg.sections.length === SECTIONS.length;
  return [
    `# kiln benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC${cfg.quick ? ' (BENCH_QUICK)' : ''}`,
    '',
    summary(cfg, sections),
    '',
    '## Machine and run',
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
      pipeline: () => benchLayerPipeline(env, cfg.runs, cfg.quick ? undefined : FULL_PIPELINE_TREE),
      registry: () => benchRegistry(env, cfg.runs, cfg.quick ? QUICK_IMAGE : FULL_IMAGE),
      apply: () => benchApplyLayer(env, cfg.runs, cfg.quick ? QUICK_LAYERS : FULL_LAYERS),
      builds: () => benchBuilds(env, cfg.buildRuns, cfg.buildWarmup, cfg.quick ? QUICK_COPY_CONTEXT : FULL_COPY_CONTEXT),
      seed: () => benchSeed(env, cfg.buildRuns, cfg.buildWarmup),
      memory: () => benchMemory(env, cfg.buildRuns, cfg.quick ? QUICK_MEMORY_IMAGE : FULL_MEMORY_IMAGE),
      cache: () => benchRegistryCache(env, cfg.runs, cfg.buildWarmup),
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
    // bench/results.md: the latest full run, as issue 8 asks ("writes the table to bench/results.md as well, with the machine description").
    const latest = join(ROOT, 'bench', 'results.md');
    const full = subset === '' && !cfg.quick;
    if (full) writeFileSync(latest, text);
    process.stdout.write(`\n${text}\n`);
    log(`done; written to ${file}${full ? ` and ${latest}` : ''}`);
  } finally {
    cleanup();
  }
}

await main();
