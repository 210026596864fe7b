/**
 * Section 9 (issue 10): a build cache shared through the registry. Runner A
 * builds testdata/seed once and exports its cache to the local registry;
 * every timed run is runner B: an empty store and build cache, the same
 * Dockerfile and context, the cache imported from the registry.
 *
 * - kiln: A runs `kiln build --push --cache-to type=registry,…,mode=max`;
 *   B runs `kiln build --cache-from … --push` (every step must be CACHED and
 *   the pushed manifest must be A's, under SOURCE_DATE_EPOCH), and again
 *   into its local store instead of pushing (which needs the layers' bytes).
 * - BuildKit (Docker 20.10): A runs `docker build --build-arg
 *   BUILDKIT_INLINE_CACHE=1` and `docker push`; B, after `docker builder
 *   prune -af` and removing every image, runs `docker build --cache-from
 *   <A's image>` (its RUN must be CACHED), then `docker push`.
 *
 * What each B run fetched from and sent to the registry is counted in the
 * registry's access log.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningRegistry, startRegistry } from '../spec/helpers/registry.ts';
import { pushBases, settledLog, storesDir } from './build-peers.ts';
import { daemonUsage, docker, type Dockerd, DOCKER_CLI, resetDocker, startDockerd } from './dockerd.ts';
import { type Contender, measureRounds, type Sample, scrub, timeCommandAsync } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';
import { medianOf, summarize } from './stats.ts';

const SEED = fileURLToPath(new URL('../testdata/seed', import.meta.url));
const EPOCH = '1700000000';

/** What one B run did at the registry, from its access log. */
interface Traffic {
  blobGets: number;
  blobBytes: number;
  /** Blob uploads completed (PUT …/blobs/uploads/… 201). */
  uploads: number;
  /** Cross-repository mounts (POST …/blobs/uploads/?mount=… 201). */
  mounts: number;
}

// Distribution's access log, Apache combined format: "METHOD PATH PROTO" STATUS BYTES.
const LOG_LINE = /"(GET|PUT|POST) (\/v2\/[^" ]*) HTTP\/[\d.]+" (\d{3}) (\d+|-)/g;

function traffic(log: string): Traffic {
  const t: Traffic = { blobGets: 0, blobBytes: 0, uploads: 0, mounts: 0 };
  for (const m of log.matchAll(LOG_LINE)) {
    const [, method, path, status, bytes] = m as unknown as [string, string, string, string, string];
    if (method === 'GET' && status === '200' && /\/blobs\/sha256:[0-9a-f]{64}$/.test(path)) {
      t.blobGets++;
      t.blobBytes += Number(bytes) || 0;
    } else if (method === 'PUT' && status === '201' && path.includes('/blobs/uploads/')) t.uploads++;
    else if (method === 'POST' && status === '201' && path.includes('mount=')) t.mounts++;
  }
  return t;
}

const digestOf = (file: string): string => (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)['containerimage.digest'] ?? '';

/** kiln's `--progress=plain` step lines: `#N CACHED` or `#N DONE …`. */
function kilnSteps(stderr: string): { steps: number; cached: number } {
  const lines = stderr.split('\n').filter((l) => /^#\d+ (CACHED|DONE)/.test(l));
  return { steps: lines.length, cached: lines.filter((l) => / CACHED$/.test(l)).length };
}

/** True when BuildKit's plain progress shows the seed's `RUN … go build` as CACHED. */
function dockerRunCached(stderr: string): boolean {
  const id = /^(#\d+) \[[^\]]*\] RUN /m.exec(stderr)?.[1];
  return id !== undefined && new RegExp(`^${id} CACHED$`, 'm').test(stderr);
}

interface Runner {
  samples: Map<string, Sample[]>;
  traffic: Map<string, Traffic[]>;
  commands: string[];
}

/** What the runners of this section share. */
interface Ctx {
  env: BenchEnv;
  /** Scratch folder: metadata files, GNU time's output. */
  dir: string;
  /** Stores and homes (tmpfs when there is room). */
  stores: string;
  registry: RunningRegistry;
  /** Records one B run's registry traffic under a row's key. */
  note: (name: string, t: Traffic) => void;
  /** The commands, for the report. */
  commands: string[];
}

export async function benchRegistryCache(env: BenchEnv, runs: number, warmup: number): Promise<SectionResult> {
  const dir = join(env.work, 'registry-cache');
  mkdirSync(dir, { recursive: true });
  const stores = storesDir(join(dir, 'stores'));
  const registry = await startRegistry({ mode: 'open' });
  let dockerd: Dockerd | undefined;
  const skipped: Row[] = [];
  try {
    await pushBases(registry, ['busybox', 'golang']);
    const trafficBy = new Map<string, Traffic[]>();
    const ctx: Ctx = { env, dir, stores: stores.dir, registry, commands: [], note: (name, t) => void trafficBy.set(name, [...(trafficBy.get(name) ?? []), t]) };
    const contenders = await kilnRunners(ctx);
    const peer = env.peers.get('dockerd');
    const started = peer?.ok ? await startDockerd(join(stores.dir, 'dockerd'), registry.host) : undefined;
    if (started?.ok) {
      dockerd = started.dockerd;
      contenders.push(buildkitRunner(ctx, dockerd));
    } else {
      const why = started !== undefined && !started.ok ? started.reason.replaceAll('|', '\\|') : peer?.ok === false ? peer.reason : 'not probed';
      skipped.push(skippedRow('docker build --cache-from (BuildKit, inline cache)', why));
    }
    env.log(`registry cache: ${contenders.length} runner-B contenders × ${runs} runs${warmup > 0 ? ` (+${warmup} warm-up)` : ''}`);
    await settledLog(registry, 0);
    const samples = await measureRounds(contenders, { runs, warmup, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
    // Each contender ran once per round: its first `warmup` entries are the warm-up rounds'.
    for (const [name, list] of trafficBy) trafficBy.set(name, list.slice(warmup));
    return report({ samples, traffic: trafficBy, commands: ctx.commands.map((c) => c.replaceAll(stores.dir, '$STORES')) }, skipped, runs, warmup);
  } finally {
    await dockerd?.stop();
    await registry.stop();
    rmSync(stores.dir, { recursive: true, force: true });
    stores.forget();
  }
}

/**
 * kiln's runner A (run here, untimed: `--push --cache-to mode=max`), and its
 * two runner-B contenders: `--cache-from --push` (its manifest must be A's)
 * and `--cache-from` into the local store; every step must print CACHED.
 */
async function kilnRunners(ctx: Ctx): Promise<Contender[]> {
  const { env, dir, registry } = ctx;
  const reg = registry.host;
  const vars = (home: string): NodeJS.ProcessEnv => {
    const tmp = join(ctx.stores, 'kiln-tmp');
    mkdirSync(tmp, { recursive: true });
    return { ...process.env, KILN_HOME: home, TMPDIR: tmp, DOCKER_CONFIG: join(dir, 'kiln-docker-config'), KILN_REGISTRY_MIRRORS: '', SOURCE_DATE_EPOCH: EPOCH };
  };
  const kiln = (args: readonly string[]): string[] => [process.execPath, env.kilnCli, 'build', '--registry-mirror', `docker.io=${registry.url}`, ...args, '-f', join(SEED, 'Dockerfile'), SEED];
  const cache = `type=registry,ref=${reg}/bench/seed-cache:main`;

  env.log('registry cache: runner A (kiln) builds and exports the cache');
  const aArgs = ['-q', '--push', '-t', `${reg}/bench/seed:a`, '--cache-to', `${cache},mode=max`];
  const metaA = join(dir, 'kiln-a.json');
  await timeCommandAsync(kiln([...aArgs, '--metadata-file', metaA]), { env: vars(join(ctx.stores, 'kiln-a')) });
  ctx.commands.push(`${shellLine(kiln(aArgs), { SOURCE_DATE_EPOCH: EPOCH })}   # runner A, once, untimed`);

  const homeB = join(ctx.stores, 'kiln-b');
  const metaB = join(dir, 'kiln-b.json');
  const pushArgs = ['--progress=plain', '--push', '-t', `${reg}/bench/seed:b`, '--cache-from', cache];
  const localArgs = ['--progress=plain', '-t', 'bench/seed:b', '--cache-from', cache];
  for (const args of [pushArgs, localArgs]) ctx.commands.push(shellLine(kiln(args), { KILN_HOME: '$EMPTY', SOURCE_DATE_EPOCH: EPOCH }));
  const runnerB = (name: string, args: readonly string[], check: () => void): Contender => ({
    name,
    before: () => scrub(homeB),
    run: async () => {
      const mark = registry.logs().length;
      let stderr = '';
      const s = await timeCommandAsync(kiln(args), { env: vars(homeB), timeFile: join(dir, 'time.out'), onStderr: (t) => void (stderr = t) });
      const steps = kilnSteps(stderr);
      if (steps.steps === 0 || steps.cached !== steps.steps) throw new Error(`registry cache: ${name}: ${steps.cached} of ${steps.steps} steps CACHED, expected all:\n${stderr.slice(-2000)}`);
      check();
      ctx.note(name, traffic(await settledLog(registry, mark)));
      return { [name]: s };
    },
    after: () => scrub(homeB),
  });
  const digestA = digestOf(metaA);
  return [
    runnerB('kiln push', [...pushArgs, '--metadata-file', metaB], () => {
      if (digestOf(metaB) !== digestA) throw new Error(`registry cache: runner B pushed ${digestOf(metaB)}, runner A ${digestA}`);
    }),
    runnerB('kiln local', localArgs, () => undefined),
  ];
}

/**
 * BuildKit's runner A (run here, untimed: BUILDKIT_INLINE_CACHE=1 and
 * `docker push`), and its runner-B contender: after an emptied daemon,
 * `docker build --cache-from` (its RUN must print CACHED), then `docker
 * push`, timed apart and summed.
 */
function buildkitRunner(ctx: Ctx, d: Dockerd): Contender {
  const { env, dir, registry } = ctx;
  const dockerfile = join(SEED, 'Dockerfile');
  const inline = `${registry.host}/bench/seed-inline:main`;
  const target = `${registry.host}/bench/seed-inline:b`;
  env.log('registry cache: runner A (BuildKit) builds with BUILDKIT_INLINE_CACHE=1 and pushes');
  const aArgs = ['build', '-q', '--network=none', '--build-arg', 'BUILDKIT_INLINE_CACHE=1', '-t', inline, '-f', dockerfile, SEED];
  resetDocker(d);
  docker(d, aArgs);
  docker(d, ['push', inline]);
  const buildArgs = ['build', '--progress=plain', '--network=none', '--cache-from', inline, '-t', target, '-f', dockerfile, SEED];
  ctx.commands.push(
    `${shellLine([DOCKER_CLI, ...aArgs], { DOCKER_BUILDKIT: '1' })} && docker push ${inline}   # runner A, once, untimed`,
    `${shellLine([DOCKER_CLI, 'builder', 'prune', '-af'])}   # untimed, before each run, then \`docker image rm -f\` of every image`,
    shellLine([DOCKER_CLI, ...buildArgs], { DOCKER_BUILDKIT: '1' }),
    shellLine([DOCKER_CLI, 'push', target]),
  );
  return {
    name: 'docker',
    before: () => resetDocker(d),
    run: async () => {
      const mark = registry.logs().length;
      let stderr = '';
      const usage = daemonUsage(d);
      const build = usage(await timeCommandAsync([DOCKER_CLI, ...buildArgs], { env: d.env, timeFile: join(dir, 'time.out'), onStderr: (t) => void (stderr = t) }));
      if (!dockerRunCached(stderr)) throw new Error(`registry cache: BuildKit's runner B ran the RUN step (not CACHED):\n${stderr.slice(-2000)}`);
      const buildLog = await settledLog(registry, mark);
      const mark2 = registry.logs().length;
      const pushUsage = daemonUsage(d);
      const push = pushUsage(await timeCommandAsync([DOCKER_CLI, 'push', target], { env: d.env, timeFile: join(dir, 'time.out') }));
      ctx.note('docker build', traffic(buildLog));
      ctx.note('docker build + push', traffic(buildLog + (await settledLog(registry, mark2))));
      return { 'docker build': build, 'docker push': push, 'docker build + push': sum(build, push) };
    },
  };
}

function sum(a: Sample, b: Sample): Sample {
  return {
    ms: a.ms + b.ms,
    ...(a.cpuMs !== undefined && b.cpuMs !== undefined ? { cpuMs: a.cpuMs + b.cpuMs } : {}),
    ...(a.rssKiB !== undefined && b.rssKiB !== undefined ? { rssKiB: Math.max(a.rssKiB, b.rssKiB) } : {}),
  };
}

const LABELS: [string, string][] = [
  ['kiln push', '**kiln build --cache-from --push**'],
  ['kiln local', 'kiln build --cache-from, into the local store'],
  ['docker build + push', 'docker build --cache-from, then docker push (BuildKit)'],
  ['docker build', 'docker build --cache-from (BuildKit), into its image store'],
];

function report(r: Runner, skipped: readonly Row[], runs: number, warmup: number): SectionResult {
  const kilnMs = ((s) => (s === undefined ? undefined : summarize(s.map((x) => x.ms)).median))(r.samples.get('kiln push'));
  const rows: Row[] = LABELS.map(([key, label]) => row(label, r.samples.get(key), key !== 'kiln push' && kilnMs !== undefined ? { kilnMs } : {}));
  rows.push(...skipped);
  const title = `9. Runner B of a build cache shared through the registry: testdata/seed, every step cached, empty store (${runs} runs)`;
  const mb = (n: number | undefined): string => (n === undefined ? '–' : `${(n / 1e6).toFixed(2)} MB`);
  const med = (key: string, f: (t: Traffic) => number): number | undefined => medianOf((r.traffic.get(key) ?? []).map(f));
  const trafficRows = LABELS.filter(([key]) => r.traffic.has(key)).map(
    ([key, label]) => `| ${label} | ${med(key, (t) => t.blobGets) ?? '–'} | ${mb(med(key, (t) => t.blobBytes))} | ${med(key, (t) => t.uploads) ?? '–'} | ${med(key, (t) => t.mounts) ?? '–'} |`,
  );
  const notes = [
    `Runner A built once, untimed: kiln with \`--push --cache-to type=registry,ref=…,mode=max\` (kiln's cache manifest, an OCI artifact whose layers are the image's own blobs), BuildKit with \`--build-arg BUILDKIT_INLINE_CACHE=1\` then \`docker push\` (the cache rides in the image's config; Docker 20.10 has no registry cache exporter without buildx). Each timed run is runner B starting empty: a fresh \`KILN_HOME\`; for BuildKit, \`docker builder prune -af\` and every image removed (the bases too), dockerd already running. Both read the bases' manifests and configs from the same local registry. Rounds interleave the contenders${warmup > 0 ? `, after ${warmup} untimed warm-up round` : ''}; kiln / this compares with the **kiln --push** row.`,
    '',
    'Checked on every run: kiln printed every step CACHED (and with `--push` the manifest digest equals runner A\'s, both under SOURCE_DATE_EPOCH); BuildKit printed its `RUN go build` step CACHED. For docker, CPU and peak RSS include the daemon\'s (see section 7).',
    '',
    "At the registry, per B run (medians, from the registry's access log; blob GETs include configs):",
    '',
    '| | blob GETs | bytes downloaded | blobs uploaded | blobs mounted |',
    '|:--|--:|--:|--:|--:|',
    ...trafficRows,
  ].join('\n');
  return { markdown: `${renderTable({ title, rows, cpu: true, rss: true })}\n\n${notes}`, commands: r.commands };
}
