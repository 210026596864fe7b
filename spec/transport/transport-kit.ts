/** Shared pieces of the transport tests: external tools, temp folders, a read-only folder, a broken layer. */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Layer } from '../../lib/image/index.ts';
import { layerFrom } from '../../lib/image/index.ts';

/** True when `tool` is on PATH. */
export function haveTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Runs a tool and returns its stdout; throws with its stderr on failure. */
export function run(tool: string, args: string[], opts: { cwd?: string } = {}): string {
  try {
    return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

export async function tempRoot(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Names in `dir` (for checking that no temp file was left behind). */
export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/**
 * A folder nobody may write to: a read-only tmpfs when running as root (root
 * ignores permission bits), mode 0555 otherwise. Undefined when neither works.
 */
export async function readOnlyDir(parent: string): Promise<{ dir: string; cleanup: () => Promise<void> } | undefined> {
  const dir = join(parent, 'read-only');
  await mkdir(dir);
  if (process.getuid?.() === 0) {
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dir]).status !== 0) return undefined;
    return { dir, cleanup: async () => void spawnSync('umount', [dir]) };
  }
  await chmod(dir, 0o555);
  return { dir, cleanup: () => chmod(dir, 0o755) };
}

/** `layer` with an opener that fails after some bytes: for testing that writers leave nothing behind. */
export function brokenLayer(layer: Layer): Layer {
  return layerFrom({
    descriptor: layer.descriptor,
    diffId: layer.diffId,
    open: async () =>
      Readable.from((async function* () {
        yield Buffer.alloc(100);
        throw new Error('source went away');
      })()),
  });
}

/** `layer` claiming a descriptor whose digest its bytes do not have. */
export function lyingLayer(layer: Layer, other: Layer): Layer {
  return layerFrom({ descriptor: { ...layer.descriptor, digest: other.descriptor.digest }, diffId: layer.diffId, open: () => layer.open() });
}
