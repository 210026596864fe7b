/**
 * What a RUN changes comes back as a tree: each case runs a real command in
 * the busybox rootfs and checks the diff against changes written out by
 * hand, with contents read back through the captured references and, where
 * it matters, the rootfs checked with the host's own stat(1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { type Change, diff, type DirNode, getNode, type Node, readContentSync, SpillDir } from '../../lib/vfs/index.ts';
import { RootfsSession, resolveRunUser, type RunSpec } from '../../lib/sandbox/index.ts';
import { backends, busyboxTree, bytesFile, dirNode } from './busybox-kit.ts';

const ROOT = { uid: 0, gid: 0, additionalGids: [0] };

function sh(script: string, more: Partial<RunSpec> = {}): RunSpec {
  return { argv: ['/bin/sh', '-c', script], env: [], cwd: '/', user: ROOT, ...more };
}

function text(node: Node | undefined): string {
  assert.equal(node?.kind, 'file', 'expected a file');
  return readContentSync(node.content).toString('utf8');
}

function at(tree: DirNode, path: string): Node | undefined {
  return getNode(tree, path.split('/'));
}

/** The changes as `op path [kind]` lines. */
function summary(changes: readonly Change[]): string[] {
  return changes.map((c) => (c.op === 'put' ? `put ${c.path} ${c.node.kind}` : `${c.op} ${c.path}`));
}

for (const backend of backends()) {
  describe(`capture after RUN (${backend})`, () => {
    let session: RootfsSession;
    let base: DirNode;
    const spill = SpillDir.create();
    before(async () => {
      const data: Record<string, Node> = {};
      for (let i = 0; i < 20; i++) data[`f${String(i).padStart(2, '0')}`] = bytesFile(`file ${i}\n`);
      base = await busyboxTree({
        'etc/motd': bytesFile('hello\n'),
        'etc/old': bytesFile('to be deleted\n'),
        'etc/owned': bytesFile('chown me\n'),
        same: bytesFile('aaaa\n', { mtime: 1_600_000_000 }),
        data: dirNode(data),
        sl: dirNode({ inside: bytesFile('x\n') }),
      });
      session = await RootfsSession.create(base, { backend, spill });
    });
    after(() => {
      session?.dispose();
      spill.dispose();
    });

    /** Runs `script`, captures, and returns the tree before, after and the diff. */
    async function step(script: string, more: Partial<RunSpec> = {}): Promise<{ before: DirNode; after: DirNode; changes: Change[] }> {
      const prev = session.tree;
      await session.run(sh(script, more));
      const next = await session.capture();
      return { before: prev, after: next, changes: diff(prev, next) };
    }

    test('nothing changed: the captured tree is the same object', async () => {
      const { before: b, after: a } = await step('true');
      assert.equal(a, b);
    });

    test('file create, modify and delete (whiteout)', async () => {
      const { after: a, changes } = await step('echo new > /new && echo more >> /etc/motd && rm /etc/old');
      assert.deepEqual(summary(changes), ['put new file', 'put etc dir', 'put etc/motd file', 'delete etc/old'].sort(byPath));
      assert.equal(text(at(a, 'new')), 'new\n');
      assert.equal(text(at(a, 'etc/motd')), 'hello\nmore\n');
      assert.equal(at(a, 'etc/old'), undefined);
    });

    test('a directory emptied and refilled becomes opaque plus its new content', async () => {
      const { changes, after: a } = await step('rm -rf /data/* && echo only > /data/only');
      assert.deepEqual(summary(changes), ['put data dir', 'opaque data', 'put data/only file']);
      assert.equal(text(at(a, 'data/only')), 'only\n');
    });

    test('hard links made by ln share one LinkGroup', async () => {
      const { after: a, changes } = await step('echo linked > /h1 && ln /h1 /h2 && ln /etc/motd /motd2');
      const h1 = at(a, 'h1');
      const h2 = at(a, 'h2');
      const m1 = at(a, 'etc/motd');
      const m2 = at(a, 'motd2');
      assert.ok(h1?.kind === 'file' && h2?.kind === 'file' && m1?.kind === 'file' && m2?.kind === 'file');
      assert.ok(h1.link !== undefined && h1.link === h2.link);
      assert.ok(m1.link !== undefined && m1.link === m2.link && m1.link !== h1.link);
      assert.equal(text(h2), 'linked\n');
      assert.equal(text(m2), 'hello\nmore\n');
      // the old motd joined a group: it is put again with its new peer
      assert.ok(summary(changes).includes('put etc/motd file') && summary(changes).includes('put motd2 file'));
      // an untouched group keeps its nodes on the next capture
      const again = await step('true');
      assert.equal(at(again.after, 'h1'), h1);
    });

    test('chmod and chown of existing files', async () => {
      const { after: a, changes } = await step('chmod 600 /etc/motd && chown 1000:2000 /etc/owned && chmod 4755 /same');
      const owned = at(a, 'etc/owned')!;
      assert.deepEqual([owned.meta.uid, owned.meta.gid, owned.meta.mode], [1000, 2000, 0o644]);
      assert.equal(at(a, 'etc/motd')!.meta.mode, 0o600);
      assert.equal(at(a, 'same')!.meta.mode, 0o4755);
      assert.equal(text(owned), 'chown me\n');
      // the host agrees on the rootfs
      assert.equal(execFileSync('stat', ['-c', '%u:%g:%a', join(session.root, 'etc/owned')], { encoding: 'utf8' }).trim(), '1000:2000:644');
      assert.ok(summary(changes).includes('put etc/owned file'));
      // peers of the motd link group are put along
      assert.ok(summary(changes).includes('put motd2 file'));
    });

    test('mkdir -p of a deep tree', async () => {
      const { changes } = await step('mkdir -p /deep/a/b/c/d/e/f');
      assert.deepEqual(summary(changes), ['put deep dir', 'put deep/a dir', 'put deep/a/b dir', 'put deep/a/b/c dir', 'put deep/a/b/c/d dir', 'put deep/a/b/c/d/e dir', 'put deep/a/b/c/d/e/f dir']);
    });

    test('a symlink replacing a directory', async () => {
      const { after: a, changes } = await step('rm -rf /sl && ln -s /etc /sl');
      assert.deepEqual(summary(changes), ['put sl symlink']);
      const sl = at(a, 'sl');
      assert.ok(sl?.kind === 'symlink' && sl.target === '/etc');
    });

    test('a file rewritten with the same size and mtime is caught (ctime, not mtime)', async () => {
      const { after: a } = await step("printf 'bbbb\\n' > /same && touch -d @1600000000 /same");
      assert.equal(text(at(a, 'same')), 'bbbb\n');
      assert.equal(at(a, 'same')!.meta.mtime, 1_600_000_000);
      // twice within one second, same size, mtime put back each time
      const one = await step("printf '1111\\n' > /same && touch -d @1600000000 /same");
      const two = await step("printf '2222\\n' > /same && touch -d @1600000000 /same");
      assert.equal(text(at(one.after, 'same')), '1111\n');
      assert.equal(text(at(two.after, 'same')), '2222\n');
      assert.deepEqual(summary(two.changes), ['put same file']);
    });

    test('USER 1000 with WORKDIR: files owned by the user, groups with the primary first', async () => {
      const user = resolveRunUser(session.tree, 'user');
      assert.deepEqual(user.additionalGids, [1000, 2000]);
      const { after: a, changes } = await step('touch f && mkdir d && id -u > who && id -G > groups && pwd > where', { user, cwd: '/home/user' });
      for (const p of ['home/user/f', 'home/user/d', 'home/user/who']) assert.deepEqual([at(a, p)!.meta.uid, at(a, p)!.meta.gid], [1000, 1000], p);
      assert.equal(text(at(a, 'home/user/who')), '1000\n');
      assert.equal(text(at(a, 'home/user/groups')), '1000 2000\n');
      assert.equal(text(at(a, 'home/user/where')), '/home/user\n');
      assert.ok(summary(changes).includes('put home/user/d dir'));
    });

    test('a missing WORKDIR is created 0755 root and is part of the layer', async () => {
      const { after: a, changes } = await step('pwd > /where', { cwd: '/made/by/run' });
      assert.equal(text(at(a, 'where')), '/made/by/run\n');
      assert.deepEqual(summary(changes).filter((l) => l.startsWith('put made')), ['put made dir', 'put made/by dir', 'put made/by/run dir']);
      assert.deepEqual([at(a, 'made/by/run')!.meta.mode, at(a, 'made/by/run')!.meta.uid], [0o755, 0]);
    });

    test('syncTo applies a changed tree (as after COPY) before the next RUN', async () => {
      const copied = dirNode({ 'copied.txt': bytesFile('from COPY\n', { uid: 1000 }) });
      let next = session.tree;
      next = { ...next, children: new Map([...next.children, ['app', copied]]) };
      await session.syncTo(next);
      assert.equal(session.tree, next);
      const { after: a, changes } = await step('cat /app/copied.txt > /app/seen && stat -c %u /app/copied.txt >> /app/seen');
      assert.equal(text(at(a, 'app/seen')), 'from COPY\n1000\n');
      assert.equal(at(a, 'app/copied.txt'), copied.children.get('copied.txt'));
      assert.deepEqual(summary(changes), ['put app dir', 'put app/seen file']);
    });

    test('mountpoints, /etc/hosts and /etc/resolv.conf never reach the tree', async () => {
      const { before: b, after: a, changes } = await step('cat /etc/hosts > /hosts.seen && test -s /etc/resolv.conf && echo ok > /resolv.seen');
      assert.match(text(at(a, 'hosts.seen')), /^127\.0\.0\.1\tlocalhost buildkitsandbox\n/);
      assert.deepEqual(summary(changes), ['put hosts.seen file', 'put resolv.seen file']);
      for (const p of ['etc/hosts', 'etc/resolv.conf', 'proc', 'dev', 'run']) assert.equal(at(a, p), undefined, p);
      assert.equal(at(a, 'etc'), at(b, 'etc'));
    });

    test('an image /etc/hosts is shadowed during the run and kept as it was', async () => {
      const mine = bytesFile('10.0.0.1 mine\n');
      const etc = at(session.tree, 'etc') as DirNode;
      const next = { ...session.tree, children: new Map([...session.tree.children, ['etc', { ...etc, children: new Map([...etc.children, ['hosts', mine]]) }]]) };
      await session.syncTo(next);
      const { after: a } = await step('cat /etc/hosts > /seen2');
      assert.match(text(at(a, 'seen2')), /buildkitsandbox/);
      assert.equal(at(a, 'etc/hosts'), mine);
    });
  });
}

function byPath(a: string, b: string): number {
  const pa = a.split(' ')[1]!;
  const pb = b.split(' ')[1]!;
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}
