/**
 * Fuzzes the Dockerfile front end with mutated corpus Dockerfiles
 * (testdata/conformance/buildkit-parser plus a few seeds rich in flags).
 * Each input goes through the selected stage; the only acceptable failure is
 * a KilnError. Anything else thrown, or an input taking more than 1 s, is a
 * finding: the input is printed as base64 and the script exits 1.
 *
 *   node --import tsx spec/fuzz/fuzz-dockerfile.ts [--count N] [--seed S] [--stage parse]
 *
 * The inputs run in a worker thread while the main thread watches its
 * heartbeat, so an endless loop is reported (with its input) instead of
 * hanging the script. Stages live in STAGES: add one (e.g. `plan`, which
 * would run planBuild on the instructions) and select it with --stage.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { KilnError } from '../../lib/errors.ts';
import { lintDockerfile, parseDockerfile, parseRunMount, toInstructionsUntilError } from '../../lib/dockerfile/index.ts';
import { planStage } from './fuzz-plan.ts';
import { mutate, rng } from './mutate-dockerfile.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CORPUS = join(ROOT, 'testdata/conformance/buildkit-parser');
const SLOW_MS = 1000;
const HANG_MS = 10_000;

/** One pipeline under test: throws only KilnErrors on bad input. */
type Stage = (input: Uint8Array) => void;

/** Runs the front end: parse, typed instructions (up to the first error), lint, and mount re-parsing. */
function frontEnd(input: Uint8Array): void {
  const parsed = parseDockerfile(input, 'Dockerfile');
  const { instructions, error } = toInstructionsUntilError(parsed);
  lintDockerfile(parsed, instructions);
  for (const ins of instructions) {
    if (ins.kind !== 'RUN') continue;
    for (const raw of ins.mounts) parseRunMount(raw, (w) => w.replace(/\$\{?(\w+)\}?/g, 'x'));
  }
  if (error !== undefined) throw error;
}

const STAGES: Record<string, Stage> = {
  parse: frontEnd,
  plan: planStage,
};

interface Options {
  count: number;
  seed: number;
  stage: string;
}

function parseArgs(argv: readonly string[]): Options {
  const opts: Options = { count: 100_000, seed: 1, stage: 'parse' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] ?? '').split('=', 2);
    const value = inline ?? argv[++i] ?? '';
    if (flag === '--count') opts.count = Number(value);
    else if (flag === '--seed') opts.seed = Number(value);
    else if (flag === '--stage') opts.stage = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!Number.isSafeInteger(opts.count) || opts.count < 0) throw new Error('--count must be a whole number');
  if (!Number.isSafeInteger(opts.seed)) throw new Error('--seed must be an integer');
  if (!Object.hasOwn(STAGES, opts.stage)) throw new Error(`unknown stage ${opts.stage}; known: ${Object.keys(STAGES).join(', ')}`);
  return opts;
}

function corpus(): Uint8Array[] {
  const files: Uint8Array[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name === 'Dockerfile') files.push(readFileSync(path));
    }
  };
  walk(CORPUS);
  return [...files, ...SEEDS.map((s) => new TextEncoder().encode(s))];
}

/** Extra seeds for the flag parsers the corpus barely uses. */
const SEEDS = [
  '# check=skip=JSONArgsRecommended;error=true\nARG B=alpine\nFROM $B AS Build\nRUN --mount=type=cache,target=/c,sharing=locked,mode=0755,uid=1 \\\n    --mount=type=secret,id=s,env=S,required --network=none make\nCOPY --from=build --chmod=u+x,g-w --chown=1:1 --link a /b/\nADD --chmod=0644 --checksum=sha256:00 --unpack=true https://x/y.tgz /y\nHEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/\nONBUILD RUN --mount=type=tmpfs,size=64m,target=/t echo hi\nWORKDIR app\nCMD run\nENV k v\nMAINTAINER me\n',
  'FROM scratch\nCOPY <<EOF <<-"END" /dst/\nhello $X\nEOF\n\tbye\n\tEND\nRUN <<EOT bash\nset -e\nEOT\nEXPOSE 80/tcp 443-445/udp\nSTOPSIGNAL SIGKILL\nSHELL ["/bin/sh", "-c"]\nUSER 1:1\nVOLUME ["/v"]\nLABEL a=b "c d"=e\n',
];

/**
 * Large inputs run once before the mutations: each must stay under the 1 s
 * limit (a quadratic path shows up here: 50k comment lines once took 22 s,
 * 20k took 3.5 s; linear code needs ~0.1 s).
 */
function stressInputs(): [string, string][] {
  return [
    ['comment lines', `${'# c\n'.repeat(20_000)}FROM a\n`],
    ['continuations', `FROM a\nRUN ${'x \\\n'.repeat(20_000)}y\n`],
    ['empty continuation lines', `FROM a\nRUN x \\\n${'\n'.repeat(20_000)}y\n`],
    ['heredocs', `FROM a\nRUN ${'<<E '.repeat(3000)}\n${'E\n'.repeat(3000)}`],
    ['nested JSON', `FROM a\nCMD ${'['.repeat(20_000)}\n`],
    ['unclosed expansions', `FROM a\nCOPY --from=${'${'.repeat(10_000)} a b\n`],
    ['mount flags', `FROM a\nRUN ${'--mount=type=cache,target=/x '.repeat(2000)}true\n`],
    ['ENV lines', `FROM a\n${'ENV a b\n'.repeat(20_000)}`],
    ['symbolic chmod', `FROM a\nCOPY --chmod=${'u+x,'.repeat(10_000)}g-w a b\n`],
  ];
}

/**
 * Worker → main: [0] = 1 + index of the input running (negative: a stress
 * input), [1] = its length; its bytes (up to 4 MiB) follow at byte 8.
 */
const SHARED_BYTES = 8 + 4 * 1024 * 1024;

/** Runs one input; returns its outcome (an error code or 'ok') or a finding. */
function runOne(stage: Stage, input: Uint8Array): { outcome: string; took: number; finding?: { kind: string; error: string } } {
  const started = performance.now();
  let outcome = 'ok';
  try {
    stage(input);
  } catch (err) {
    if (!(err instanceof KilnError)) {
      return { outcome: 'other', took: 0, finding: { kind: 'exception', error: String((err as Error)?.stack ?? err) } };
    }
    outcome = err.code;
  }
  const took = performance.now() - started;
  return took > SLOW_MS ? { outcome, took, finding: { kind: `slow (${Math.round(took)} ms)`, error: '' } } : { outcome, took };
}

function runWorker(opts: Options, shared: SharedArrayBuffer): void {
  const header = new Int32Array(shared, 0, 2);
  const bytes = new Uint8Array(shared, 8);
  const publish = (index: number, input: Uint8Array): void => {
    const kept = input.subarray(0, bytes.length);
    bytes.set(kept);
    Atomics.store(header, 1, kept.length);
    Atomics.store(header, 0, index);
  };
  const finding = (index: number, kind: string, input: Uint8Array, error: string): void => {
    parentPort?.postMessage({ type: 'finding', index, kind, input, error });
  };
  const stage = STAGES[opts.stage] ?? frontEnd;
  for (const [k, [name, text]] of stressInputs().entries()) {
    const input = new TextEncoder().encode(text);
    publish(-1 - k, input);
    const result = runOne(stage, input);
    if (result.finding !== undefined) return finding(-1 - k, `${result.finding.kind} on stress input "${name}"`, input, result.finding.error);
  }
  const seeds = corpus();
  const random = rng(opts.seed);
  let slowest = 0;
  const outcomes = new Map<string, number>();
  for (let i = 0; i < opts.count; i++) {
    const input = mutate(seeds, random);
    publish(i + 1, input);
    const result = runOne(stage, input);
    if (result.finding !== undefined) return finding(i, result.finding.kind, input, result.finding.error);
    outcomes.set(result.outcome, (outcomes.get(result.outcome) ?? 0) + 1);
    slowest = Math.max(slowest, result.took);
  }
  const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  parentPort?.postMessage({ type: 'done', count: opts.count, slowest, seeds: seeds.length, summary });
}

function report(kind: string, index: number, input: Uint8Array, error: string): void {
  console.error(`FINDING (${kind}) at input #${index}`);
  if (error !== '') console.error(error);
  if (input.length <= 64 * 1024) console.error(`input (base64): ${Buffer.from(input).toString('base64')}`);
  else console.error(`input: ${input.length} bytes, not printed (stress inputs are rebuilt by stressInputs())`);
}

function main(): void {
  const opts = parseArgs(process.argv.slice(2));
  const shared = new SharedArrayBuffer(SHARED_BYTES);
  const header = new Int32Array(shared, 0, 2);
  // Node 20 does not pass tsx's loader to workers: register it inside the worker first.
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { opts, shared } });
  const started = performance.now();
  let last = 0;
  let lastChange = performance.now();
  const watchdog = setInterval(() => {
    const now = Atomics.load(header, 0);
    if (now !== last) [last, lastChange] = [now, performance.now()];
    else if (now !== 0 && performance.now() - lastChange > HANG_MS) {
      const input = new Uint8Array(shared, 8, Atomics.load(header, 1)).slice();
      report(`hang > ${HANG_MS} ms`, now - 1, input, '');
      void worker.terminate();
      process.exit(1);
    }
  }, 250);
  worker.on('message', (msg: { type: string; index?: number; input?: Uint8Array; kind?: string; error?: string; count?: number; slowest?: number; seeds?: number; summary?: string }) => {
    if (msg.type === 'finding') {
      clearInterval(watchdog);
      report(msg.kind ?? '', msg.index ?? -1, msg.input ?? new Uint8Array(), msg.error ?? '');
      process.exitCode = 1;
    } else if (msg.type === 'done') {
      clearInterval(watchdog);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `fuzz-dockerfile: stage ${opts.stage}, seed ${opts.seed}: ${msg.count} inputs from ${msg.seeds} seeds ` +
          `(${relative(ROOT, CORPUS)} + built-in) in ${seconds} s, slowest ${(msg.slowest ?? 0).toFixed(1)} ms, no findings\n` +
          `outcomes: ${msg.summary ?? ''}`,
      );
    }
  });
  worker.on('error', (err) => {
    clearInterval(watchdog);
    console.error(`worker crashed: ${err.stack ?? String(err)}`);
    process.exitCode = 1;
  });
}

if (isMainThread) main();
else {
  const data = workerData as { opts: Options; shared: SharedArrayBuffer };
  runWorker(data.opts, data.shared);
}
