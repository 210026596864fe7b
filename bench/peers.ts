import { spawnSync } from 'node:child_process';
import { capture } from './measure.ts';

/** A peer tool: there with its version line, or absent with the reason it is skipped. */
export type Peer = { ok: true; name: string; version: string } | { ok: false; name: string; reason: string };

let aptUpdated = false;

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Finds `cmd`; when it is missing and we run as root, installs the Debian
 * package `pkg` (apt-get update once per process first). Never throws: a
 * peer that cannot be had is skipped with a reason.
 */
export function ensurePeer(cmd: string, pkg: string, log: (s: string) => void): Peer {
  if (!onPath(cmd)) {
    if (process.getuid?.() !== 0) return { ok: false, name: cmd, reason: `not installed, and installing ${pkg} needs root` };
    log(`installing ${pkg} (apt-get) …`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!aptUpdated) {
      const up = spawnSync('apt-get', ['update', '-qq'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      if (up.status !== 0) return { ok: false, name: cmd, reason: `apt-get update failed: ${tail(up.stderr)}` };
      aptUpdated = true;
    }
    const inst = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (inst.status !== 0 || !onPath(cmd)) return { ok: false, name: cmd, reason: `apt-get install ${pkg} failed: ${tail(inst.stderr)}` };
  }
  const version = capture([cmd, '--version']);
  if (version === undefined) return { ok: false, name: cmd, reason: `\`${cmd} --version\` fails` };
  return { ok: true, name: cmd, version: version.split('\n')[0]! };
}

function tail(b: Buffer | null): string {
  return (b?.toString('utf8') ?? '').trim().split('\n').slice(-3).join(' / ');
}
