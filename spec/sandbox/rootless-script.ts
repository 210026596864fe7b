/**
 * Run by rootless.test.ts as an unprivileged user (runuser): builds a tree
 * from the rootfs directory given as argv[2], runs RUN steps through the
 * sandbox API and prints what it captured as one JSON line.
 */
import { getNode, hostTree, readContentSync, SpillDir } from '../../lib/vfs/index.ts';
import { RootfsSession, type SandboxError } from '../../lib/sandbox/index.ts';

const ROOT = { uid: 0, gid: 0, additionalGids: [0] };
const USER = { uid: 1000, gid: 1000, additionalGids: [1000] };

const spill = SpillDir.create();
const tree = hostTree(process.argv[2]!, { uid: 0, gid: 0 });
const session = await RootfsSession.create(tree, { spill });
const out: Record<string, unknown> = { uid: process.getuid!(), backend: session.info.backend, idMapping: session.info.idMapping };
const text: string[] = [];
await session.run({ argv: ['/bin/sh', '-c', 'id -u; echo made > /f; chown 5:6 /f 2>/dev/null && echo chowned || echo chown-failed; mkdir -p /home/u && chmod 777 /home/u'], env: [], cwd: '/', user: ROOT, onStdout: (c) => text.push(c.toString()) });
await session.capture();
await session.run({ argv: ['/bin/sh', '-c', 'id -u; echo mine > /home/u/g; touch /etc/passwd 2>/dev/null && echo wrote-passwd || echo passwd-denied'], env: [], cwd: '/home/u', user: USER, onStdout: (c) => text.push(c.toString()) });
await session.capture();
await session.run({ argv: ['/bin/sh', '-c', 'touch /tmp/made-here'], env: [], cwd: '/work/dir', user: USER });
const t = await session.capture();
const wd = getNode(t, ['work', 'dir']);
const made = getNode(t, ['tmp', 'made-here']);
out['workdir'] = [wd?.meta.uid, made?.meta.uid];
const f = getNode(t, ['f']);
const g = getNode(t, ['home', 'u', 'g']);
out['stdout'] = text.join('');
out['f'] = f?.kind === 'file' ? { uid: f.meta.uid, gid: f.meta.gid, text: readContentSync(f.content).toString() } : null;
out['g'] = g?.kind === 'file' ? { uid: g.meta.uid, gid: g.meta.gid, text: readContentSync(g.content).toString() } : null;
try {
  await session.run({ argv: ['false'], env: [], cwd: '/', user: ROOT });
} catch (e) {
  out['failure'] = (e as SandboxError).code;
}
session.dispose();
spill.dispose();
console.log(JSON.stringify(out));
