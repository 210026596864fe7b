/**
 * Bad input: one clear line with a stable code (and the Dockerfile line),
 * a non-zero exit, and nothing half-written — no output file, no temp file
 * next to it, no image in the local store.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir();
after(() => tmp.cleanup());
let n = 0;

/** A context with the given files; returns its path. */
function context(files: Record<string, string>): string {
  const dir = join(tmp.dir, `ctx-${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function expectFailure(args: string[], code: string, where?: RegExp) {
  const out = join(tmp.dir, `out-${n++}`);
  const home = join(tmp.dir, `home-${n++}`);
  const r = runKiln(['build', '-q', '-t', 'bad:1', '-o', `type=oci,dest=${out}.tar`, ...args], { env: { KILN_HOME: home } });
  assert.notEqual(r.status, 0, 'exit status');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`\\b${code}\\b`));
  if (where) assert.match(lines[0]!, where);
  assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.startsWith(`.out-`) || f === `${out.split('/').pop()}.tar`), [], 'no output or temp file');
  const images = runKiln(['images', '-q'], { env: { KILN_HOME: home } });
  assert.equal(images.stdout, '', 'nothing in the local store');
  return lines[0]!;
}

describe('bad input', () => {
  test('a missing context', () => {
    expectFailure([join(tmp.dir, 'no-such-dir')], 'CONTEXT_NOT_FOUND');
  });

  test('a missing Dockerfile', () => {
    expectFailure([context({ 'a.txt': 'x' })], 'DOCKERFILE_NOT_FOUND');
  });

  test('an unknown instruction, with its line', () => {
    expectFailure([context({ Dockerfile: 'FROM scratch\n\nFROOB x\n' })], 'INSTRUCTION_UNKNOWN', /Dockerfile:3\b/);
  });

  test('a COPY source that does not exist, with its line', () => {
    expectFailure([context({ Dockerfile: 'FROM scratch\nCOPY a.txt /\nCOPY missing.txt /\n', 'a.txt': 'x' })], 'COPY_SOURCE_NOT_FOUND', /Dockerfile:3\b/);
  });

  test('a COPY source that leaves the context through ..', () => {
    expectFailure([context({ Dockerfile: 'FROM scratch\nCOPY ../secret /\n' })], 'COPY_SOURCE_OUTSIDE_CONTEXT', /Dockerfile:2\b/);
  });

  test('a COPY source that leaves the context through a symlink', () => {
    const ctx = context({ Dockerfile: 'FROM scratch\nCOPY link/passwd /\n' });
    symlinkSync('/etc', join(ctx, 'link'));
    expectFailure([ctx], 'COPY_SOURCE_OUTSIDE_CONTEXT', /Dockerfile:2\b/);
  });

  test('a COPY source symlink with a relative target above the context', () => {
    const ctx = context({ Dockerfile: 'FROM scratch\nCOPY up /\n' });
    symlinkSync('../../../../etc/hostname', join(ctx, 'up'));
    expectFailure([ctx], 'COPY_SOURCE_OUTSIDE_CONTEXT', /Dockerfile:2\b/);
  });

  test('an unwritable output path', () => {
    // as root, permission bits do not stop writes: a regular file where a directory must be does
    const ro = join(tmp.dir, 'not-a-dir');
    writeFileSync(ro, 'x');
    const ctx = context({ Dockerfile: 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'x' });
    const home = join(tmp.dir, 'home-ro');
    const r = runKiln(['build', '-q', '-o', `type=oci,dest=${join(ro, 'out.tar')}`, ctx], { env: { KILN_HOME: home } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.trim(), /^ERROR: OUTPUT_UNWRITABLE: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const images = runKiln(['images', '-q'], { env: { KILN_HOME: home } });
    assert.equal(images.stdout, '', 'nothing in the local store');
  });
});
