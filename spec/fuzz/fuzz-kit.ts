/**
 * The runner shared by fuzz-layer.ts and fuzz-manifest.ts: numbered,
 * reproducible cases (case N of seed S is the same input on every run),
 * the pass rule (every stage resolves or rejects with a KilnError), a
 * watchdog for hangs, and the findings report.
 *
 *   script (wrapper)        re-runs itself in a fresh run folder (run-folder.ts: sandbox, write check)
 *     └ script (runner)     watchdog, findings (saved as replayable inputs), report
 *       └ worker thread     runs the cases; restarted after a hang or a crash of the worker
 *
 * A finding does not stop the run: every case runs, findings are grouped by
 * their error class and first frames in kiln's code, and the exit code is 1.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { KilnError } from '../../lib/errors.ts';
import { rng } from './mutate-dockerfile.ts';
import { inRunFolder } from './run-folder.ts';

export type Random = () => number;

export const int = (random: Random, n: number): number => Math.floor(random() * n);
export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
export const chance = (random: Random, p: number): boolean => random() < p;

/** The random source of case `index` of run `seed`: independent of every other case. */
export function caseRandom(seed: number, index: number): Random {
  // splitmix32 of (seed, index), so neighbouring cases get unrelated streams.
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad);
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
  return rng((h ^ (h >>> 15)) >>> 0);
}

/** Runs the stages of one case; a stage's KilnError is an outcome, anything else a finding. */
export interface CaseContext {
  /**
   * Runs `fn` as the named stage: resolves to its value, or to undefined when
   * it failed with a KilnError (its code is counted as the stage's outcome).
   * Any other failure ends the case as a finding, and so does a KilnError
   * that only relabels a bug (see masksBug).
   */
  stage<T>(name: string, fn: () => Promise<T> | T): Promise<T | undefined>;
}

export interface FuzzTarget<S> {
  /** `fuzz-layer`, `fuzz-manifest`: names reports and reproducer files. */
  readonly name: string;
  /** What a case is, for the report line (`tar layers`). */
  readonly unit: string;
  /** Seeds and other inputs of `generate`; runs in the worker and in the runner (to rebuild a hung case). */
  load(): S;
  /** The input of one case: a function of `random` and the state only. */
  generate(state: S, random: Random): Uint8Array;
  /** Starts what only running needs (servers, spill folders), in the worker. */
  start?(state: S): Promise<void>;
  /** Runs one input through the stages under test. */
  run(state: S, input: Uint8Array, ctx: CaseContext): Promise<void>;
  stop?(state: S): Promise<void>;
}

interface Options {
  count: number;
  seed: number;
  from: number;
  input: string | undefined;
  findings: string | undefined;
  hangMs: number;
  writeCheck: 'auto' | 'strace' | 'find' | 'none';
  sandbox: 'auto' | 'on' | 'off';
  keep: boolean;
  isolate: boolean;
}

function parseArgs(argv: readonly string[], defaultCount: number): Options {
  const o: Options = { count: defaultCount, seed: 1, from: 0, input: undefined, findings: undefined, hangMs: 10_000, writeCheck: 'auto', sandbox: 'auto', keep: false, isolate: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag = '', inline] = (argv[i] ?? '').split('=', 2);
    const value = (): string => inline ?? argv[++i] ?? '';
    const num = (): number => {
      const n = Number(value());
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${flag} needs a whole number`);
      return n;
    };
    if (flag === '--count') o.count = num();
    else if (flag === '--seed') o.seed = num();
    else if (flag === '--from') o.from = num();
    else if (flag === '--case') [o.from, o.count] = [num(), 1];
    else if (flag === '--input') [o.input, o.count] = [resolve(value()), 1];
    else if (flag === '--findings') o.findings = resolve(value());
    else if (flag === '--hang-ms') o.hangMs = num();
    else if (flag === '--write-check') o.writeCheck = oneOf(value(), ['auto', 'strace', 'find', 'none'] as const, flag);
    else if (flag === '--sandbox') o.sandbox = oneOf(value(), ['auto', 'on', 'off'] as const, flag);
    else if (flag === '--keep') o.keep = true;
    else if (flag === '--no-isolate') o.isolate = false;
    else throw new Error(`unknown argument ${flag}`);
  }
  return o;
}

function oneOf<T extends string>(v: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag} must be one of ${allowed.join(', ')}`);
  return v as T;
}

export const USAGE = `options: --count N  --seed S  --from I  --case I  --input FILE  --findings DIR  --hang-ms MS
         --write-check auto|strace|find|none  --sandbox auto|on|off  --keep  --no-isolate`;

/**
 * The entry point of a fuzz script: `runFuzz(target, import.meta.url, 10_000)`
 * at its top level. In the main thread it is the wrapper or the runner, in
 * the worker it runs the cases.
 */
export function runFuzz<S>(target: FuzzTarget<S>, scriptUrl: string, defaultCount: number): void {
  if (!isMainThread) {
    const data = workerData as WorkerInput;
    if (data.target === target.name) {
      runWorker(target, data).catch((err: unknown) => parentPort?.postMessage({ type: 'fatal', error: describeError(err) } satisfies ToRunner));
    }
    return;
  }
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2), defaultCount);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const inRun = process.env['KILN_FUZZ_RUN'];
  const main = opts.isolate && inRun === undefined ? wrap(target, scriptUrl, opts) : runRunner(target, scriptUrl, opts, inRun);
  main.then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`${target.name}: ${(err as Error)?.stack ?? String(err)}`);
      process.exitCode = 2;
    },
  );
}

// ---- the worker ---------------------------------------------------------------------------

interface WorkerInput {
  target: string;
  opts: Options;
  from: number;
  shared: SharedArrayBuffer;
}

/** A non-KilnError out of a stage. */
class Untyped {
  constructor(
    readonly stage: string,
    readonly error: unknown,
  ) {}
}

type ToRunner =
  | { type: 'stage'; id: number; name: string }
  | { type: 'finding'; index: number; stage: string; error: string; signature: string }
  | { type: 'case'; index: number; outcomes: string[]; ms: number }
  | { type: 'done' }
  | { type: 'fatal'; error: string };

async function runWorker<S>(target: FuzzTarget<S>, data: WorkerInput): Promise<void> {
  const { opts, from, shared } = data;
  const beat = new Int32Array(shared, 0, 2);
  const post = (m: ToRunner): void => parentPort?.postMessage(m);
  const stageIds = new Map<string, number>();
  let current = from;
  let stageName = 'generate';
  const escaped = (kind: string) => (err: unknown): void => {
    // A stream error nobody listened for, a promise nobody awaited: a crash, charged to the running case.
    post({ type: 'finding', index: current, stage: `${stageName} (${kind})`, error: describeError(err), signature: signatureOf(`${kind} in ${stageName}`, err) });
  };
  process.on('uncaughtException', escaped('uncaught exception'));
  process.on('unhandledRejection', escaped('unhandled rejection'));
  const state = target.load();
  await target.start?.(state);
  let outcomes: string[] = [];
  const end = opts.input !== undefined ? from + 1 : opts.from + opts.count;
  for (let i = from; i < end; i++) {
    current = i;
    stageName = 'generate';
    Atomics.store(beat, 1, 0);
    Atomics.store(beat, 0, i + 1);
    const input = opts.input !== undefined ? new Uint8Array(readFileSync(opts.input)) : target.generate(state, caseRandom(opts.seed, i));
    const started = performance.now();
    outcomes = [];
    const ctx: CaseContext = {
      async stage(name, fn) {
        let id = stageIds.get(name);
        if (id === undefined) {
          id = stageIds.size + 1;
          stageIds.set(name, id);
          post({ type: 'stage', id, name });
        }
        stageName = name;
        Atomics.store(beat, 1, id);
        try {
          const value = await fn();
          outcomes.push(`${name} ok`);
          return value;
        } catch (err) {
          if (err instanceof Untyped) throw err;
          if (!(err instanceof KilnError) || masksBug(err)) throw new Untyped(name, err);
          outcomes.push(`${name} ${err.code}`);
          return undefined;
        }
      },
    };
    try {
      await target.run(state, input, ctx);
    } catch (err) {
      const u = err instanceof Untyped ? err : new Untyped(stageName, err);
      post({ type: 'finding', index: i, stage: u.stage, error: describeError(u.error), signature: signatureOf(u.stage, u.error) });
    }
    post({ type: 'case', index: i, outcomes, ms: performance.now() - started });
  }
  await target.stop?.(state);
  Atomics.store(beat, 0, end + 1);
  post({ type: 'done' });
}

/**
 * A KilnError that only relabels a bug: INTERNAL (assertNever and the
 * like), or one caused by an engine TypeError (`Cannot read properties of
 * null`: no `code`, unlike Node's ERR_* data errors such as a TextDecoder's
 * ERR_ENCODING_INVALID_ENCODED_DATA) or a ReferenceError: a catch-all that
 * turned a crash into a typed error.
 */
function masksBug(err: KilnError): boolean {
  if (err.code === 'INTERNAL') return true;
  for (let c: unknown = err.cause, n = 0; c !== undefined && c !== null && n < 10; c = (c as { cause?: unknown }).cause, n++) {
    if (c instanceof ReferenceError || (c instanceof TypeError && (c as { code?: unknown }).code === undefined)) return true;
  }
  return false;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause === undefined ? '' : `\ncaused by: ${describeError(err.cause)}`;
    return `${err.stack ?? `${err.name}: ${err.message}`}${cause}`;
  }
  return `thrown non-Error: ${String(err)}`;
}

/** What makes two findings the same bug: the error's class and the first frames in kiln's code. */
function signatureOf(stage: string, err: unknown): string {
  const name = err instanceof Error ? `${err.name}${(err as { code?: unknown }).code !== undefined ? ` ${String((err as { code?: unknown }).code)}` : ''}` : typeof err;
  const frames = (err instanceof Error ? (err.stack ?? '') : '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l) && /\/(lib|spec)\//.test(l) && !l.includes('/fuzz-kit.ts'))
    .slice(0, 2)
    .map((l) => l.replace(/^.*\/(lib|spec)\//, '$1/').replace(/:\d+\)?$/, ''));
  return `${stage} | ${name} | ${frames.join(' < ')}`;
}

// ---- the runner: watchdog, findings, report ----------------------------------------------

interface Finding {
  index: number;
  stage: string;
  error: string;
  signature: string;
}

async function runRunner<S>(target: FuzzTarget<S>, scriptUrl: string, opts: Options, runDir: string | undefined): Promise<number> {
  // Made on the first finding; a replayed input (--input) is saved already.
  let findingsDir = opts.findings ?? (runDir !== undefined ? join(runDir, 'findings') : undefined);
  const save = (f: Finding): void => {
    if (opts.input !== undefined) return;
    findingsDir ??= mkdtempSync(join(tmpdir(), `${target.name}-findings-`));
    saveFinding(findingsDir, target, opts, f, () => inputOf(f.index));
  };
  const started = performance.now();
  const findings: Finding[] = [];
  const stageNames = new Map<number, string>([[0, 'generate']]);
  const outcomes = new Map<string, number>();
  let slowest = { ms: 0, index: -1 };
  let generatorState: S | undefined;
  const end = opts.input !== undefined ? opts.from + 1 : opts.from + opts.count;
  let next = opts.from;
  let lastReport = performance.now();
  const events: SliceEvents = {
    finding(f) {
      findings.push(f);
      save(f);
    },
    done(index, list, ms) {
      for (const k of list) outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      if (ms > slowest.ms) slowest = { ms, index };
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        console.error(`${target.name}: case ${index} of ${opts.from}..${end - 1}, ${findings.length} finding(s) so far`);
      }
    },
  };
  while (next < end) next = await runSlice(target, scriptUrl, opts, next, stageNames, events);
  function inputOf(index: number): Uint8Array {
    if (opts.input !== undefined) return new Uint8Array(readFileSync(opts.input));
    generatorState ??= target.load();
    return target.generate(generatorState, caseRandom(opts.seed, index));
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const cases = end - opts.from;
  const what = opts.input !== undefined ? `input ${opts.input}` : `seed ${opts.seed}, cases ${opts.from}..${end - 1}`;
  const distinct = new Map<string, Finding[]>();
  for (const f of findings) distinct.set(f.signature, [...(distinct.get(f.signature) ?? []), f]);
  console.log(
    `${target.name}: ${cases} ${target.unit} (${what}) in ${seconds} s, slowest case ${slowest.ms.toFixed(0)} ms (#${slowest.index}); ` +
      `${findings.length === 0 ? 'no findings' : `${findings.length} finding(s), ${distinct.size} distinct`}`,
  );
  console.log(`outcomes: ${[...outcomes].sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const [sig, list] of distinct) {
    const again = opts.input !== undefined ? `--input ${opts.input}` : `--seed ${opts.seed} --case ${list[0]!.index} --no-isolate (input saved in ${findingsDir ?? '?'})`;
    console.log(`FINDING x${list.length}: ${sig}\n  first at case ${list[0]!.index}; reproduce: ${again}`);
    console.log(list[0]!.error.split('\n').map((l) => `    ${l}`).join('\n'));
  }
  return findings.length === 0 ? 0 : 1;
}

interface SliceEvents {
  finding(f: Finding): void;
  /** A case ran to its end (with or without a finding): its stages' outcomes and its time. */
  done(index: number, outcomes: readonly string[], ms: number): void;
}

/** Runs cases from `from` in one worker until they are done or the worker hangs or dies; resolves to where to go on. */
function runSlice<S>(target: FuzzTarget<S>, scriptUrl: string, opts: Options, from: number, stageNames: Map<number, string>, events: SliceEvents): Promise<number> {
  const onFinding = (f: Finding): void => events.finding(f);
  const end = opts.input !== undefined ? from + 1 : opts.from + opts.count;
  const shared = new SharedArrayBuffer(8);
  const beat = new Int32Array(shared, 0, 2);
  // Node 20 does not pass tsx's loader to workers: register it inside the worker first.
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(scriptUrl)}); })`;
  const input: WorkerInput = { target: target.name, opts, from, shared };
  const worker = new Worker(boot, { eval: true, workerData: input, resourceLimits: { maxOldGenerationSizeMb: 2048 } });
  return new Promise((resolvePromise, rejectPromise) => {
    let last = -1;
    let lastChange = performance.now();
    let settled = false;
    const finish = (resumeAt: number): void => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      void worker.terminate();
      resolvePromise(resumeAt);
    };
    const running = (): number => Atomics.load(beat, 0) - 1;
    const watchdog = setInterval(() => {
      const now = Atomics.load(beat, 0) * 1024 + Atomics.load(beat, 1);
      if (now !== last) [last, lastChange] = [now, performance.now()];
      else if (Atomics.load(beat, 0) > 0 && performance.now() - lastChange > opts.hangMs) {
        const index = running();
        const stage = stageNames.get(Atomics.load(beat, 1)) ?? '?';
        onFinding({ index, stage, error: `no progress for ${opts.hangMs} ms in stage ${stage}`, signature: `${stage} | hang` });
        finish(index + 1);
      }
    }, 250);
    worker.on('message', (m: ToRunner) => {
      if (m.type === 'stage') stageNames.set(m.id, m.name);
      else if (m.type === 'finding') onFinding({ index: m.index, stage: m.stage, error: m.error, signature: m.signature });
      else if (m.type === 'fatal') {
        settled = true;
        clearInterval(watchdog);
        void worker.terminate();
        rejectPromise(new Error(`the fuzz harness itself failed (not a finding):\n${m.error}`));
      } else if (m.type === 'case') events.done(m.index, m.outcomes, m.ms);
      else finish(end);
    });
    const died = (why: string): void => {
      if (settled) return;
      if (Atomics.load(beat, 0) === 0) {
        // No case had started: the harness itself cannot load (a finding would repeat for every case).
        settled = true;
        clearInterval(watchdog);
        rejectPromise(new Error(`the fuzz worker died before its first case (not a finding):\n${why}`));
        return;
      }
      const index = Math.max(running(), from);
      const stage = stageNames.get(Atomics.load(beat, 1)) ?? '?';
      const signature = why.startsWith('hang') ? `${stage} | hang (never settles)` : `${stage} | worker died | ${why.split('\n')[0]!.replace(/\d+/g, 'N')}`;
      onFinding({ index, stage, error: why, signature });
      finish(index + 1);
    };
    worker.on('error', (err) => died(describeError(err)));
    // Exit code 0 mid-run: the event loop ran empty, i.e. the case awaits a promise that can never settle.
    worker.on('exit', (code) => died(code === 0 ? 'hang: the case awaits a promise that can never settle (the event loop ran empty)' : `worker exited with ${code}`));
  });
}

function saveFinding<S>(dir: string, target: FuzzTarget<S>, opts: Options, f: Finding, input: () => Uint8Array): void {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${target.name}-seed${opts.seed}-case${f.index}`);
  writeFileSync(`${base}.bin`, input());
  writeFileSync(`${base}.txt`, `${f.signature}\nstage: ${f.stage}\nreproduce: --seed ${opts.seed} --case ${f.index}  (or --input ${base}.bin)\n\n${f.error}\n`);
}

// ---- the wrapper --------------------------------------------------------------------------

/** Runs this script again inside a fresh run folder (see run-folder.ts), with the same arguments. */
function wrap<S>(target: FuzzTarget<S>, scriptUrl: string, opts: Options): Promise<number> {
  const cmd = [process.execPath, '--import', 'tsx', fileURLToPath(scriptUrl), ...process.argv.slice(2)];
  return inRunFolder(target.name, cmd, { writeCheck: opts.writeCheck, sandbox: opts.sandbox, keep: opts.keep });
}
