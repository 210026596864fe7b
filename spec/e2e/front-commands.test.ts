/** `kiln parse` and `kiln context ls`, through the CLI's entry point. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { run, runKiln, TOP } from '../helpers/kiln.ts';

async function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await main(args, { out: (s) => (out += s), err: (s) => (err += s), env: { ...process.env } });
  return { status, out, err };
}

test('kiln parse prints BuildKit\'s dump for every positive parser conformance case', async () => {
  const dir = join(TOP, 'testdata/conformance/buildkit-parser/testfiles');
  const cases = readdirSync(dir);
  assert.equal(cases.length, 33);
  for (const c of cases) {
    const r = await cli(['parse', join(dir, c, 'Dockerfile')]);
    assert.equal(r.status, 0, `${c}: ${r.err}`);
    assert.equal(r.out, readFileSync(join(dir, c, 'result'), 'utf8'), c);
  }
});

test('kiln parse --format=json gives nodes with source ranges', async () => {
  const r = await cli(['parse', '--format=json', join(TOP, 'testdata/build/scratch-app/Dockerfile')]);
  assert.equal(r.status, 0, r.err);
  const doc = JSON.parse(r.out) as { nodes: { keyword: string; range: { start: number; end: number } }[] };
  assert.deepEqual(doc.nodes.slice(0, 3).map((n) => [n.keyword, n.range.start, n.range.end]), [['from', 3, 3], ['label', 4, 4], ['env', 5, 6]]);
});

test('kiln parse of a broken Dockerfile fails with a code and the line (real CLI)', () => {
  const r = runKiln(['parse', join(TOP, 'testdata/conformance/buildkit-parser/testfiles-negative/shykes-nested-json/Dockerfile')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^ERROR: .*Dockerfile:\d+(:\d+)?: JSON_NON_STRING: /);
});

test('kiln context ls lists what find lists, minus what .dockerignore excludes', async () => {
  const ctx = join(TOP, 'testdata/build/scratch-app');
  const r = await cli(['context', 'ls', ctx]);
  assert.equal(r.status, 0, r.err);
  const found = run('find', ['.', '-mindepth', '1', '-printf', '%P%y\\n'], { cwd: ctx })
    .trim()
    .split('\n')
    .map((l) => (l.endsWith('d') ? `${l.slice(0, -1)}/` : l.slice(0, -1)))
    .filter((p) => p !== 'README.md' && !p.startsWith('site/drafts'))
    .sort();
  assert.deepEqual([...r.out.trim().split('\n')].sort(), found);
  assert.ok(!r.out.includes('README.md'));
});
