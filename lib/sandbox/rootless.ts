import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { findTool } from './probe.ts';

/** A user's first range in /etc/subuid or /etc/subgid (by name or uid). */
function subordinate(file: string, name: string, id: number): { start: number; count: number } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if ((who === name || who === String(id)) && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '') && Number(count) > 0) {
      return { start: Number(start), count: Number(count) };
    }
  }
  return undefined;
}

/**
 * For a rootless kiln: the command prefix that re-runs a program as root of
 * a new user namespace where the caller is uid 0 and its subordinate ids
 * (/etc/subuid, /etc/subgid, mapped by the setuid newuidmap/newgidmap from
 * package uidmap) are 1…n — as `buildah unshare` does. Inside it kiln is
 * "root" (idMapping `host`): chown works in RUN, USER runs with its own ids,
 * and the rootfs holds the image's owners (as subordinate ids on disk).
 * Undefined when already root, or without ranges or uidmap: kiln then runs
 * with one mapped id (see capture's owner inference).
 */
export function rootlessUserNamespace(): string[] | undefined {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return undefined;
  const unshare = findTool('unshare');
  if (unshare === undefined || findTool('newuidmap') === undefined || findTool('newgidmap') === undefined) return undefined;
  const name = userInfo().username;
  const u = subordinate('/etc/subuid', name, uid);
  const g = subordinate('/etc/subgid', name, uid);
  if (u === undefined || g === undefined) return undefined;
  return [unshare, '--user', '--map-root-user', `--map-users=${u.start},1,${u.count}`, `--map-groups=${g.start},1,${g.count}`, '--'];
}
