/**
 * Leftovers of kiln runs that were killed (kill -9, a crash, a CI timeout)
 * in `$KILN_HOME`, removed on the next start: spill folders, RUN root
 * filesystems, partial blobs, private cache-mount folders, build cache
 * entries being written and index.json temp files. Each is named with the pid of the run that made it, and only
 * those of processes that no longer exist are removed, so runs going on at
 * the same time keep theirs. (The index lock is taken over by the next
 * writer, see transport's withFileLock.)
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../transport/index.ts';

/** Where each kind of leftover lives below the home, and its name with the pid in group 1. */
const LEFTOVERS: readonly { dir: string; name: RegExp }[] = [
  { dir: '', name: /^kiln-(?:spill|rootfs)-(\d+)-/ },
  { dir: '', name: /^index\.json\.kiln-tmp-(\d+)-/ },
  { dir: '', name: /^index\.json\.lock\.(\d+)-[0-9a-f]+\.tmp$/ },
  { dir: '.kiln-tmp', name: /^(\d+)-[^/]*\.partial$/ },
  { dir: 'cache-mounts', name: /^private-(\d+)-/ },
  { dir: join('cache', 'steps'), name: /^[0-9a-f]{64}\.json\.(\d+)-[0-9a-f]+\.tmp$/ },
];

/** Removes what dead runs left in `home`; returns the paths removed. Never fails: a leftover it cannot remove stays. */
export function sweepHome(home: string): string[] {
  const removed: string[] = [];
  for (const { dir, name } of LEFTOVERS) {
    let entries: string[];
    try {
      entries = readdirSync(join(home, dir));
    } catch {
      continue;
    }
    for (const entry of entries) {
      const m = name.exec(entry);
      const pid = Number(m?.[1]);
      if (m === null || processAlive(pid)) continue;
      const path = join(home, dir, entry);
      try {
        rmSync(path, { recursive: true, force: true });
        removed.push(path);
      } catch {
        // left for a later run (or `kiln prune`)
      }
    }
  }
  return removed;
}
