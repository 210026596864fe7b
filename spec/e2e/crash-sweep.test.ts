/**
 * What a killed kiln leaves in $KILN_HOME is removed by the next run
 * (issue 9): leftovers of dead processes go, those of live ones stay; and a
 * build killed with SIGKILL in the middle of a RUN leaves a store the next
 * build uses as if nothing happened.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadBaseImages } from '../helpers/base-images.ts';
import { KILN, runKiln, TOP, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-sweep-');
const home = join(tmp.dir, 'home');
before(async () => {
  await loadBaseImages(home);
});
after(() => tmp.cleanup());

/** Leftover names for `pid`, as kiln's temp files are named. */
function leftovers(pid: number): string[] {
  return [
    `kiln-spill-${pid}-aB3`,
    `kiln-rootfs-${pid}-xY9`,
    join('.kiln-tmp', `${pid}-0f1e.partial`),
    join('cache-mounts', `private-${pid}-q1`),
    `index.json.kiln-tmp-${pid}-77`,
    join('cache', 'steps', `${'ab'.repeat(32)}.json.${pid}-0a1b2c.tmp`),
  ];
}

function plant(pid: number): void {
  for (const name of leftovers(pid)) {
    const path = join(home, name);
    mkdirSync(join(path, '..'), { recursive: true });
    if (name.endsWith('.partial') || name.endsWith('.tmp') || name.includes('index.json')) writeFileSync(path, 'half');
    else {
      mkdirSync(join(path, 'deep', 'er'), { recursive: true });
      writeFileSync(join(path, 'deep', 'er', 'file'), 'x');
    }
  }
}

test('the next command removes the leftovers of dead runs and keeps those of live ones', () => {
  const dead = spawnSync('true').pid!;
  const live = spawn('sleep', ['30']);
  try {
    plant(dead);
    plant(live.pid!);
    const r = runKiln(['images'], { env: { KILN_HOME: home } });
    assert.equal(r.status, 0, r.stderr);
    for (const name of leftovers(dead)) assert.equal(existsSync(join(home, name)), false, `${name} removed`);
    for (const name of leftovers(live.pid!)) assert.equal(existsSync(join(home, name)), true, `${name} kept`);
  } finally {
    live.kill();
  }
  runKiln(['images'], { env: { KILN_HOME: home } });
});

test('SIGKILL in the middle of a RUN: the next build sweeps the rootfs and spill, and succeeds', async () => {
  const ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nRUN echo started && sleep 3 && echo done > /done\n');
  const child = spawn(process.execPath, [KILN, 'build', '--progress=plain', '-t', 'killed:1', ctx], { cwd: TOP, env: { ...process.env, KILN_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  for (let i = 0; i < 300 && !/^started$/m.test(err); i++) await sleep(50);
  assert.match(err, /^started$/m, 'the RUN began');
  const rootfs = readdirSync(home).filter((n) => n.startsWith(`kiln-rootfs-${child.pid}-`));
  assert.equal(rootfs.length, 1, 'a rootfs is being used');
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  await sleep(500); // bubblewrap's --die-with-parent ends the sandboxed sleep with kiln
  assert.ok(readdirSync(home).some((n) => n.startsWith(`kiln-rootfs-${child.pid}-`)), 'the killed run left its rootfs');
  const again = runKiln(['build', '-q', '-t', 'killed:1', ctx], { env: { KILN_HOME: home } });
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(readdirSync(home).filter((n) => n.includes(`-${child.pid}-`)), [], 'nothing of the killed run is left');
  const index = JSON.parse(readFileSync(join(home, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  assert.ok(index.manifests.some((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'docker.io/library/killed:1'));
});
