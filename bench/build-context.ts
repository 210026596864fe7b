import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Contender, measureRounds, scrub, type Sample, timeCommand } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { summarize } from './stats.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';

const DOCKERFILE = 'FROM scratch\nCOPY . /app/\n';

/**
 * Section 2: building the generated context with `FROM scratch` + `COPY . /app/`,
 * from a cold store each run: kiln to an OCI layout, buildah bud (and its
 * push to an OCI layout, the step where buildah compresses), and the
 * `tar | gzip -6 | sha256sum` pipeline as a lower bound for one gzip layer.
 */
export async function benchBuildContext(env: BenchEnv, runs: number): Promise<SectionResult> {
  const dockerfile = join(env.work, 'Dockerfile');
  writeFileSync(dockerfile, DOCKERFILE);
  const timeFile = join(env.work, 'time.out');
  const layerSizes = new Map<string, number>();
  const kiln = kilnContender(env, dockerfile, timeFile, layerSizes);
  const buildah = env.peers.get('buildah');
  const shell = shellContender(env, timeFile);
  const contenders: Contender[] = [kiln.contender, shell.contender];
  if (buildah?.ok) contenders.splice(1, 0, buildahContender(env, dockerfile, timeFile, layerSizes).contender);
  env.log(`build: ${contenders.length} contenders × ${runs} runs (+1 warm-up) on ${(env.context.bytes / 1e6).toFixed(0)} MB`);
  const samples = await measureRounds(contenders, { runs, warmup: 1, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
  const bytes = env.context.bytes;
  const kilnSamples = samples.get('kiln');
  const kilnMs = kilnSamples === undefined ? undefined : summarize(kilnSamples.map((s) => s.ms)).median;
  const vs = kilnMs === undefined ? { bytes } : { bytes, kilnMs };
  const rows: Row[] = [row('**kiln build** → OCI layout', samples.get('kiln'), { bytes })];
  if (buildah?.ok) {
    rows.push(row('buildah bud (into its store, uncompressed)', samples.get('buildah bud'), vs));
    rows.push(row('buildah push → OCI layout (gzip)', samples.get('buildah push'), vs));
    rows.push(row('buildah bud + push', samples.get('buildah bud + push'), vs));
  } else rows.push(skippedRow('buildah bud', buildah?.ok === false ? buildah.reason : 'not probed'));
  rows.push(row('tar \\| gzip -6 \\| sha256sum (lower bound)', samples.get('shell'), vs));
  const title = `2. Build \`FROM scratch\` + \`COPY . /app/\` of ${env.context.files} files, ${(bytes / 1e6).toFixed(1)} MB (cold store each run, ${runs} runs)`;
  const sizes = [...layerSizes].map(([k, v]) => `${k} ${(v / 1e6).toFixed(2)} MB`).join(', ');
  const notes = sizes === '' ? '' : `\n\nCompressed layer sizes (from the warm-up run): ${sizes}, for ${(bytes / 1e6).toFixed(2)} MB of file content.`;
  const commands = [kiln.line, ...(buildah?.ok ? buildahLines(env, dockerfile) : []), shell.line];
  return { markdown: renderTable({ title, rows, cpu: true, rss: true, mbps: true }) + notes, commands };
}

function kilnContender(env: BenchEnv, dockerfile: string, timeFile: string, sizes: Map<string, number>): { contender: Contender; line: string } {
  const home = join(env.work, 'kiln-home');
  const out = join(env.work, 'kiln-out');
  const argv = [process.execPath, env.kilnCli, 'build', '-q', '-t', 'bench:kiln', '-o', `type=oci,dest=${out},tar=false`, '-f', dockerfile, env.context.dir];
  const contender: Contender = {
    name: 'kiln',
    before: () => scrub(home, out),
    run: () => ({ kiln: timeCommand(argv, { env: { ...process.env, KILN_HOME: home }, timeFile }) }),
    after: () => {
      if (!sizes.has('kiln')) sizes.set('kiln', ociLayerSize(out));
      scrub(home, out);
    },
  };
  return { contender, line: shellLine(argv, { KILN_HOME: home }) };
}

function buildahArgs(env: BenchEnv): { root: string; runroot: string; out: string; global: string[] } {
  const root = join(env.work, 'buildah-root');
  const runroot = join(env.work, 'buildah-runroot');
  return { root, runroot, out: join(env.work, 'buildah-out'), global: ['buildah', '--root', root, '--runroot', runroot, '--storage-driver', 'vfs'] };
}

function buildahLines(env: BenchEnv, dockerfile: string): string[] {
  const b = buildahArgs(env);
  return [
    shellLine([...b.global, 'bud', '--isolation', 'chroot', '--layers', '--format', 'oci', '-t', 'bench:buildah', '-f', dockerfile, env.context.dir]),
    shellLine([...b.global, 'push', 'bench:buildah', `oci:${b.out}:latest`]),
  ];
}

function buildahContender(env: BenchEnv, dockerfile: string, timeFile: string, sizes: Map<string, number>): { contender: Contender } {
  const b = buildahArgs(env);
  const bud = [...b.global, 'bud', '--isolation', 'chroot', '--layers', '--format', 'oci', '-t', 'bench:buildah', '-f', dockerfile, env.context.dir];
  const push = [...b.global, 'push', 'bench:buildah', `oci:${b.out}:latest`];
  const contender: Contender = {
    name: 'buildah',
    before: () => {
      scrub(b.root, b.runroot, b.out);
      mkdirSync(b.root);
      mkdirSync(b.runroot);
    },
    run: () => {
      const s1 = timeCommand(bud, { timeFile });
      const s2 = timeCommand(push, { timeFile });
      return { 'buildah bud': s1, 'buildah push': s2, 'buildah bud + push': sum(s1, s2) };
    },
    after: () => {
      if (!sizes.has('buildah')) sizes.set('buildah', ociLayerSize(b.out));
      scrub(b.root, b.runroot, b.out);
    },
  };
  return { contender };
}

function shellContender(env: BenchEnv, timeFile: string): { contender: Contender; line: string } {
  const argv = ['bash', '-c', 'set -o pipefail; tar -C "$1" -cf - . | gzip -6 | sha256sum >/dev/null', 'bench', env.context.dir];
  return { contender: { name: 'shell', run: () => ({ shell: timeCommand(argv, { timeFile }) }) }, line: shellLine(argv) };
}

/** Two phases run one after the other: times and CPU add up, the peak is the larger one. */
function sum(a: Sample, b: Sample): Sample {
  const s: Sample = { ms: a.ms + b.ms };
  if (a.cpuMs !== undefined && b.cpuMs !== undefined) s.cpuMs = a.cpuMs + b.cpuMs;
  if (a.rssKiB !== undefined && b.rssKiB !== undefined) s.rssKiB = Math.max(a.rssKiB, b.rssKiB);
  return s;
}

/** The size of the one layer of the one image in an OCI layout. */
function ociLayerSize(dir: string): number {
  const blob = (digest: string): unknown => JSON.parse(readFileSync(join(dir, 'blobs', ...digest.split(':')), 'utf8'));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = blob(index.manifests[0]!.digest) as { layers: { size: number }[] };
  return manifest.layers.reduce((n, l) => n + l.size, 0);
}
