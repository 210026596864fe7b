/**
 * SIGKILL at random points of a pull, a build and a push (issue 9): after
 * each kill, the same command run again succeeds and `kiln fsck` finds
 * nothing wrong. 5 points per command here (KILN_KILL_POINTS=N for more;
 * the issue asks for ≥ 50 in all). The points are spread over each
 * command's measured duration, from a seeded generator so a failure can be
 * replayed (KILN_KILL_SEED).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadBaseImages } from '../helpers/base-images.ts';
import { KILN, TOP, tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { prng } from '../vfs/tree-dump.ts';
import { kiln, kilnOk } from './registry-kit.ts';

const POINTS = Number(process.env.KILN_KILL_POINTS ?? 5);
const rand = prng(Number(process.env.KILN_KILL_SEED ?? 9));
const tmp = tempDir('kiln-kill-');
let reg: RunningRegistry;
let ctx: string;
const seeded = join(tmp.dir, 'seeded');

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  await loadBaseImages(seeded);
  ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  // several layers of a few MB, so that a kill lands inside transfers and packing
  for (let i = 0; i < 3; i++) writeFileSync(join(ctx, `part${i}.bin`), Buffer.alloc(3 << 20, i + 1).map((b, j) => (b * 31 + j * 7) & 0xff));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nCOPY part0.bin /p0\nCOPY part1.bin /p1\nRUN cat /p0 /p1 | wc -c > /n\nCOPY part2.bin /p2\n');
  const env = { KILN_HOME: seeded };
  await kilnOk(['build', '-q', '-t', 'kill/src:1', ctx], env);
  await kilnOk(['push', '-q', 'kill/src:1', `${reg.host}/kill/src:1`], env);
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

/** Runs kiln, kills it with SIGKILL after `ms` (if still running); resolves when it is gone. */
async function killAfter(args: readonly string[], env: NodeJS.ProcessEnv, ms: number): Promise<void> {
  const child = spawn(process.execPath, [KILN, ...args], { cwd: TOP, env: { ...process.env, ...env }, stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  await Promise.race([sleep(ms), closed]);
  child.kill('SIGKILL');
  await closed;
}

async function timed(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  await kilnOk(args, env);
  return performance.now() - t;
}

async function assertClean(home: string, what: string): Promise<void> {
  const r = await kiln(['fsck'], { KILN_HOME: home });
  assert.equal(r.status, 0, `${what}: kiln fsck:\n${r.stdout}${r.stderr}`);
}

const commands: { name: string; args: (i: number) => string[]; prepare: (home: string) => Promise<void> }[] = [
  { name: 'pull', args: () => ['pull', '-q', `${reg.host}/kill/src:1`], prepare: async () => {} },
  { name: 'build', args: () => ['build', '-q', '--no-cache', '-t', 'kill/built:1', ctx], prepare: async (home) => void (await loadBaseImages(home)) },
  { name: 'push', args: (i) => ['push', '-q', 'kill/src:1', `${reg.host}/kill/pushed${i}:1`], prepare: async (home) => void (await kilnOk(['pull', '-q', `${reg.host}/kill/src:1`, ], { KILN_HOME: home }).then(() => kilnOk(['copy', `${reg.host}/kill/src:1`, 'kill/src:1'], { KILN_HOME: home }))) },
];

for (const c of commands) {
  test(`${c.name}: SIGKILL at ${POINTS} random points, then the command again and kiln fsck`, async () => {
    const home = join(tmp.dir, `${c.name}-home`);
    await c.prepare(home);
    const probe = join(tmp.dir, `${c.name}-probe`);
    await c.prepare(probe);
    const duration = await timed(c.args(999), { KILN_HOME: probe });
    for (let i = 0; i < POINTS; i++) {
      const at = Math.round(rand() * duration);
      await killAfter(c.args(i), { KILN_HOME: home }, at);
      await assertClean(home, `${c.name} killed at ${at} ms of ${Math.round(duration)}`);
      await kilnOk(c.args(i), { KILN_HOME: home });
      await assertClean(home, `${c.name} run again after a kill at ${at} ms`);
    }
  });
}
