/** Registries and token servers never outlive their test: stop(), a forgotten stop(), a killed test process. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../helpers/registry.ts';

const REGISTRY_KIT = fileURLToPath(new URL('../helpers/registry.ts', import.meta.url));

/** True while `pid` is a live process (a zombie waiting for its reaper counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function gone(pids: readonly number[], paths: readonly string[]): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (pids.every((p) => !running(p)) && paths.every((p) => !existsSync(p))) return true;
    await sleep(50);
  }
  return false;
}

/**
 * Runs a test process that starts a token-mode registry, reports its PIDs
 * and folders, then ends as `how` says; resolves with what it reported.
 */
async function orphanedRegistry(how: 'forget' | 'sigkill'): Promise<{ pids: number[]; paths: string[] }> {
  const script = [
    `const { startRegistry } = await import(${JSON.stringify(REGISTRY_KIT)});`,
    `const reg = await startRegistry({ mode: 'token' });`,
    `console.log(JSON.stringify({ pids: [reg.pid, reg.tokenServer.pid], paths: [reg.configPath, reg.storageDir] }));`,
    // Wait to be told to go, then end as `how` says.
    how === 'sigkill' ? 'setInterval(() => {}, 1000);' : `await new Promise((r) => process.stdin.once('data', r)); process.stdin.destroy();`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '--eval', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  while (!out.includes('\n')) {
    assert.notEqual(child.exitCode, 1, 'the test process failed');
    await sleep(20);
  }
  const reported = JSON.parse(out) as { pids: number[]; paths: string[] };
  assert.ok(reported.pids.every(running), 'started');
  if (how === 'sigkill') child.kill('SIGKILL');
  else child.stdin.end('go\n');
  await exited;
  return reported;
}

describe('registry kit lifecycle', () => {
  it('stop() kills the registry and its token server by PID and removes their folders, not a given storage', async () => {
    const storage = await mkdtemp(join(tmpdir(), 'kiln-kit-storage-'));
    try {
      const reg = await startRegistry({ mode: 'tls-token', storage });
      const pids = [reg.pid, reg.tokenServer!.pid!];
      assert.ok(pids.every(running));
      assert.match(reg.logs(), new RegExp(`listening on 127\\.0\\.0\\.1:${reg.host.split(':')[1]}`));
      await reg.stop();
      assert.ok(await gone(pids, [reg.configPath, reg.caCertPath!]));
      assert.ok(existsSync(storage));
      await reg.stop(); // idempotent
    } finally {
      await rm(storage, { recursive: true, force: true });
    }
  });

  it('cleans up after a test process that never calls stop()', async () => {
    const { pids, paths } = await orphanedRegistry('forget');
    assert.ok(await gone(pids, paths));
  });

  it('cleans up after a test process killed with SIGKILL', async () => {
    const { pids, paths } = await orphanedRegistry('sigkill');
    assert.ok(await gone(pids, paths));
  });
});
