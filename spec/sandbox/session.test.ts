/**
 * The session's rootfs on disk: what create and syncTo write (checked with
 * the host's stat(1) and getfattr(1)), what capture keeps when a command
 * leaves things alone, and the lifetime of captured trees.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { diff, type DirNode, getNode, LinkGroup, type Node, readContentSync, SpillDir } from '../../lib/vfs/index.ts';
import { RootfsSession, type RunSpec, type SandboxError } from '../../lib/sandbox/index.ts';
import { busyboxTree, bytesFile, dirNode } from './busybox-kit.ts';

const ROOT = { uid: 0, gid: 0, additionalGids: [0] };
const isRoot = process.getuid?.() === 0;

function sh(script: string): RunSpec {
  return { argv: ['/bin/sh', '-c', script], env: [], cwd: '/', user: ROOT };
}

function at(tree: DirNode, path: string): Node | undefined {
  return getNode(tree, path.split('/'));
}

function hostStat(path: string, format: string): string {
  return execFileSync('stat', ['-c', format, path], { encoding: 'utf8' }).trim();
}

describe('RootfsSession', () => {
  const spill = SpillDir.create();
  const group = new LinkGroup();
  const linked = (): Node => ({ ...(bytesFile('shared\n', { mode: 0o640, uid: 7, gid: 8 }) as object), link: group }) as Node;
  const xattrFile = bytesFile('has attrs\n', { xattrs: { 'user.kiln': Buffer.from('value') } });
  const device: Node = { kind: 'char', meta: { mode: 0o666, uid: 0, gid: 0, mtime: 1_500_000_000 }, major: 1, minor: 3 };
  let session: RootfsSession;
  let base: DirNode;

  before(async () => {
    base = await busyboxTree({
      l1: linked(),
      l2: linked(),
      attrs: xattrFile,
      ...(isRoot ? { null: device } : {}),
      owned: dirNode({ f: bytesFile('x\n', { mode: 0o4750, uid: 1000, gid: 2000, mtime: 1_234_567_890 }) }, { mode: 0o2775, uid: 1000, gid: 2000, mtime: 1_111_111_111 }),
    });
    session = await RootfsSession.create(base, { spill });
  });
  after(() => {
    session?.dispose();
    spill.dispose();
  });

  test('create writes modes, owners, mtimes, hard links, xattrs and devices', () => {
    const r = session.root;
    assert.equal(hostStat(join(r, 'owned'), '%a %u %g %Y'), '2775 1000 2000 1111111111');
    assert.equal(hostStat(join(r, 'owned/f'), '%a %u %g %Y'), '4750 1000 2000 1234567890');
    assert.equal(hostStat(join(r, 'l1'), '%i %h'), `${hostStat(join(r, 'l2'), '%i')} 2`);
    assert.equal(hostStat(join(r, 'l1'), '%a %u %g'), '640 7 8');
    assert.match(execFileSync('getfattr', ['--absolute-names', '-d', '-m', 'user.', join(r, 'attrs')], { encoding: 'utf8' }), /user\.kiln="value"/);
    if (isRoot) assert.equal(hostStat(join(r, 'null'), '%F %t:%T'), 'character special file 1:3');
  });

  test('an untouched tree comes back as the same objects, devices and links included', async () => {
    await session.run(sh('cat /l1 /attrs > /dev/null'));
    const t = await session.capture();
    assert.equal(t, base);
  });

  test('writing through one hard link changes the whole group; xattrs survive a chmod', async () => {
    await session.run(sh('echo more >> /l1 && chmod 600 /attrs'));
    const t = await session.capture();
    const l1 = at(t, 'l1');
    const l2 = at(t, 'l2');
    assert.ok(l1?.kind === 'file' && l2?.kind === 'file');
    assert.ok(l1.link !== undefined && l1.link === l2.link && l1.link !== group);
    assert.equal(readContentSync(l2.content).toString(), 'shared\nmore\n');
    const attrs = at(t, 'attrs')!;
    assert.equal(attrs.meta.mode, 0o600);
    assert.deepEqual(attrs.meta.xattrs, { 'user.kiln': Buffer.from('value') });
    assert.deepEqual(diff(base, t).map((c) => `${c.op} ${c.path}`), ['put attrs', 'put l1', 'put l2']);
  });

  test('after a failed RUN, syncTo rescans and puts the wanted tree back exactly', async () => {
    await assert.rejects(session.run(sh('rm -rf /owned; echo junk > /junk; chmod 700 /etc; exit 1')), (e: SandboxError) => e.code === 'RUN_FAILED');
    await session.syncTo(base);
    assert.equal(session.tree, base);
    assert.equal(hostStat(join(session.root, 'owned/f'), '%a %u %g %Y'), '4750 1000 2000 1234567890');
    assert.equal(hostStat(join(session.root, 'etc'), '%a'), '755');
    assert.equal(hostStat(join(session.root, 'l1'), '%i %h'), `${hostStat(join(session.root, 'l2'), '%i')} 2`);
    await session.run(sh('test ! -e /junk && cat /l2'));
    assert.equal(await session.capture(), base);
  });

  test('captured contents outlive the session; a disposed session is SESSION_DISPOSED', async () => {
    const own = await RootfsSession.create(base, { spill });
    await own.run(sh('echo kept > /kept'));
    const t = await own.capture();
    own.dispose();
    const kept = at(t, 'kept');
    assert.ok(kept?.kind === 'file');
    assert.equal(readContentSync(kept.content).toString(), 'kept\n');
    await assert.rejects(own.run(sh('true')), (e: SandboxError) => e.code === 'SESSION_DISPOSED');
  });
});
