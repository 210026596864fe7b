/** `kiln plan`: stages, dependencies, skipped stages and images to fetch, without fetching anything. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { planCommand } from '../../cli/plan-command.ts';
import { TOP } from '../helpers/kiln.ts';

const CTX = join(TOP, 'testdata/build/unused-stage');

async function plan(args: string[]): Promise<string> {
  let out = '';
  const status = await planCommand([...args, CTX], { out: (s) => (out += s), err: () => {}, env: {} });
  assert.equal(status, 0);
  return out;
}

const row = (out: string, name: string) => out.split('\n').find((l) => new RegExp(`^\\d+\\s+${name}\\s`).test(l)) ?? '';

test('an unused stage whose image exists nowhere is listed as skipped and not fetched', async () => {
  const out = await plan([]);
  assert.match(row(out, 'unused'), /kiln-test\.invalid\/does-not-exist:1\s+-\s+skipped$/);
  assert.match(row(out, 'base'), /scratch\s+-\s+build$/);
  assert.match(row(out, 'final'), /stage base\s+base\s+build \(target\)$/);
  assert.match(out, /Base images to fetch:\n {2}\(none\)/);
  assert.match(out, /Build order:\n {2}1\. base\n {2}2\. final/);
});

test('--target naming that stage makes it needed: the plan lists the image it would fetch', async () => {
  const out = await plan(['--target', 'unused']);
  assert.match(row(out, 'unused'), /build \(target\)$/);
  assert.match(row(out, 'final'), /skipped$/);
  assert.match(out, /Base images to fetch:\n {2}kiln-test\.invalid\/does-not-exist:1 \(linux\/\w+\) for stage unused/);
});

test('an unknown --target is an error that names the stages', async () => {
  await assert.rejects(planCommand(['--target', 'nope', CTX], { out: () => {}, err: () => {}, env: {} }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'TARGET_UNKNOWN');
    assert.match(e.message, /unused/);
    return true;
  });
});
