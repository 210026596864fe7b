/**
 * Keeps the layer and manifest fuzzers working under `make test`: each runs
 * 200 cases (the full runs are `make fuzz`), and a throwaway target proves
 * the runner reports what it must: an untyped exception, a hang, and a write
 * outside the run folder.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { caseRandom } from './fuzz-kit.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const TOP = join(HERE, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'kiln-fuzz-smoke-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(script: string, args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: TOP, env: { ...process.env, TMPDIR: work } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** The count of `stage code` in a run's outcomes line. */
function outcome(out: string, key: string): number {
  const line = out.split('\n').find((l) => l.startsWith('outcomes: ')) ?? '';
  const m = new RegExp(`(?:: |, )${key} (\\d+)`).exec(line);
  return m === null ? 0 : Number(m[1]);
}

const hasStrace = spawnSync('sh', ['-c', 'command -v strace'], { stdio: 'ignore' }).status === 0;

describe('fuzz harnesses (200 cases each)', () => {
  // The write check's find walks the whole disk, which other tests write to: make fuzz runs it.
  const common = ['--count', '200', '--seed', '7', '--write-check', 'none'];

  it('fuzz-layer: every case ends typed; some layers apply, some are refused', async () => {
    const { code, out } = await run(join(HERE, 'fuzz-layer.ts'), common);
    assert.equal(code, 0, out);
    assert.match(out, /fuzz-layer: 200 tar layers \(seed 7, cases 0\.\.199\) in [\d.]+ s, .*no findings/);
    assert.ok(outcome(out, 'apply ok') > 10, out);
    assert.ok(outcome(out, 'apply TAR_INVALID') > 10, out);
    assert.ok(outcome(out, 'index ok') > 10, out);
  });

  it('fuzz-manifest: every case ends typed; some trees pull, some are refused', async () => {
    const { code, out } = await run(join(HERE, 'fuzz-manifest.ts'), common);
    assert.equal(code, 0, out);
    assert.match(out, /fuzz-manifest: 200 manifest trees \(seed 7, cases 0\.\.199\) in [\d.]+ s, .*no findings/);
    assert.ok(outcome(out, 'pull ok') > 5, out);
    assert.ok(outcome(out, 'use ok') > 5, out);
    assert.ok(outcome(out, 'parseManifest MANIFEST_INVALID') > 10, out);
  });

  it('reports an untyped exception, a hang and a write outside the run folder, and exits 1', async () => {
    const outside = join(work, 'outside.txt');
    const script = join(work, 'bad-target.mts'); // .mts: ESM outside the package
    // A case's input depends only on the seed and its number: cases 1, 3 and 5 of seed 1 misbehave.
    const input = (i: number): string => {
      const random = caseRandom(1, i);
      return Buffer.from(Array.from({ length: 8 }, () => Math.floor(random() * 256))).toString('hex');
    };
    writeFileSync(
      script,
      `import { writeFileSync } from 'node:fs';
import { runFuzz } from ${JSON.stringify(join(HERE, 'fuzz-kit.ts'))};
runFuzz({
  name: 'fuzz-bad', unit: 'cases',
  load: () => ({}),
  generate: (_state, random) => Buffer.from(Array.from({ length: 8 }, () => Math.floor(random() * 256))),
  async run(_state, input, ctx) {
    const hex = Buffer.from(input).toString('hex');
    await ctx.stage('typed', () => { if (hex === '${input(1)}') throw new TypeError('not a KilnError'); });
    await ctx.stage('spin', () => { if (hex === '${input(3)}') for (;;) {} });
    await ctx.stage('write', () => { if (hex === '${input(5)}') { try { writeFileSync(${JSON.stringify(outside)}, 'x'); } catch {} } });
  },
}, import.meta.url, 10);
`,
    );
    const { code, out } = await run(script, ['--count', '8', '--seed', '1', '--hang-ms', '1000', '--write-check', hasStrace ? 'strace' : 'none']);
    assert.equal(code, 1, out);
    assert.match(out, /fuzz-bad: 8 cases .* 2 finding\(s\), 2 distinct/);
    assert.match(out, /FINDING x1: typed \| TypeError \|[^\n]*\n  first at case 1; reproduce: --seed 1 --case 1 --no-isolate/);
    assert.match(out, /FINDING x1: spin \| hang\n  first at case 3;/);
    if (hasStrace) assert.ok(out.includes(`WRITE OUTSIDE THE RUN FOLDER: ${outside}`), out);
    // With root and unshare the sandbox stops the write itself.
    if (process.getuid?.() === 0 && hasStrace) assert.equal(existsSync(outside), false);
  });
});
