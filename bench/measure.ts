import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** One timed run. */
export interface Sample {
  /** Wall time. */
  ms: number;
  /** User + system CPU time of the process and its waited-for children. */
  cpuMs?: number;
  /** Peak resident set size (GNU time's %M: the largest single process). */
  rssKiB?: number;
}

/**
 * Something measured. `run` is the timed work; it returns one or more named
 * samples (a contender timing two phases separately returns both). `before`
 * and `after` run untimed around every run, warm-ups included.
 */
export interface Contender {
  readonly name: string;
  before?: () => void;
  run: () => Record<string, Sample> | Promise<Record<string, Sample>>;
  after?: () => void;
}

export interface RoundOptions {
  runs: number;
  /** Untimed rounds first (page cache, lazily loaded code). */
  warmup: number;
  onRound?: (round: number, total: number) => void;
}

/**
 * Runs every contender `warmup + runs` times, interleaved: round r runs them
 * all, starting at contender r mod n, so slow drift of the machine (other
 * load, thermal, page cache) hits every contender alike instead of whichever
 * happened to be measured last. Returns the samples of the timed rounds by name.
 */
export async function measureRounds(contenders: readonly Contender[], opts: RoundOptions): Promise<Map<string, Sample[]>> {
  const out = new Map<string, Sample[]>();
  const total = opts.warmup + opts.runs;
  for (let round = 0; round < total; round++) {
    opts.onRound?.(round, total);
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(round + k) % contenders.length]!;
      c.before?.();
      let samples: Record<string, Sample>;
      try {
        samples = await c.run();
      } finally {
        c.after?.();
      }
      if (round < opts.warmup) continue;
      for (const [name, s] of Object.entries(samples)) {
        const list = out.get(name) ?? [];
        list.push(s);
        out.set(name, list);
      }
    }
  }
  return out;
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Wrap in GNU time for CPU time and peak RSS (needs `timeFile`, a scratch path). */
  timeFile?: string;
  /** {@link timeCommandAsync} only: called with the command's whole stderr (up to 4 MiB) when it succeeds, to check what it did. */
  onStderr?: (text: string) => void;
}

const GNU_TIME = '/usr/bin/time';

/** True when GNU time is there to measure CPU time and peak RSS. */
export function haveGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

/**
 * Runs a command to completion, stdout discarded, and times it. Throws with
 * the tail of stderr when it fails: a benchmark of a failing command is no
 * benchmark.
 */
export function timeCommand(argv: readonly string[], opts: CommandOptions = {}): Sample {
  const wrapped = opts.timeFile !== undefined && haveGnuTime();
  const full = wrapped ? [GNU_TIME, '-f', '%U %S %M', '-o', opts.timeFile!, ...argv] : [...argv];
  const t0 = performance.now();
  const r = spawnSync(full[0]!, full.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t0;
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const tail = r.stderr.toString('utf8').trim().split('\n').slice(-8).join('\n');
    throw new Error(`${argv.join(' ')} exited with ${r.status ?? r.signal}:\n${tail}`);
  }
  if (!wrapped) return { ms };
  return { ms, ...readGnuTime(opts.timeFile!) };
}

/**
 * {@link timeCommand} without blocking the event loop: the command runs as an
 * async child. Use it whenever this process also serves something the
 * command talks to, such as a registry started by spec/helpers/registry.ts,
 * whose log pipe only the event loop drains (a blocked loop lets the pipe
 * fill, and the registry then hangs mid-request).
 */
export function timeCommandAsync(argv: readonly string[], opts: CommandOptions = {}): Promise<Sample> {
  const wrapped = opts.timeFile !== undefined && haveGnuTime();
  const full = wrapped ? [GNU_TIME, '-f', '%U %S %M', '-o', opts.timeFile!, ...argv] : [...argv];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(full[0]!, full.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const keep = opts.onStderr === undefined ? 16_384 : 4 << 20;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-keep);
    });
    child.once('error', (err) => reject(new Error(`${argv.join(' ')}: ${err.message}`)));
    child.once('close', (code, signal) => {
      const ms = performance.now() - t0;
      if (code !== 0) {
        const tail = stderr.trim().split('\n').slice(-8).join('\n');
        reject(new Error(`${argv.join(' ')} exited with ${code ?? signal}:\n${tail}`));
        return;
      }
      opts.onStderr?.(stderr);
      resolve(wrapped ? { ms, ...readGnuTime(opts.timeFile!) } : { ms });
    });
  });
}

function readGnuTime(file: string): Omit<Sample, 'ms'> {
  // GNU time prepends "Command exited with non-zero status" lines on failure; the numbers are last.
  const last = readFileSync(file, 'utf8').trim().split('\n').pop() ?? '';
  rmSync(file, { force: true });
  const [user, sys, rss] = last.split(' ').map(Number);
  if (user === undefined || sys === undefined || rss === undefined || [user, sys, rss].some(Number.isNaN)) return {};
  return { cpuMs: (user + sys) * 1000, rssKiB: rss };
}

/** Runs a command and returns its stdout (trimmed), or undefined when it cannot run or fails. */
export function capture(argv: readonly string[], env?: NodeJS.ProcessEnv): string | undefined {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20 });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.toString('utf8').trim();
}

/** Removes scratch paths and flushes dirty pages, so one run's writeback does not land in the next run's time. */
export function scrub(...paths: string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  spawnSync('sync', [], { stdio: 'ignore' });
}
