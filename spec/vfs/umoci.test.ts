/**
 * Independent check against umoci (Debian's umoci 0.4.7, another
 * implementation of OCI layers): real directory trees are turned into
 * layers by `umoci repack` (which writes whiteouts for deleted paths), kiln
 * applies those layers, and the result must equal the tree `umoci unpack`
 * makes of the same image: paths, types, modes, owners, sizes, content
 * sha256, symlink targets, device numbers, hard-link grouping and user
 * xattrs. The unpacked tree is read by Python (os.lstat), not by kiln.
 * Needs root (owners, devices) and umoci; skipped otherwise.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, createReadStream, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { applyLayer, type DirNode, emptyDir, type LinkGroup, readContentSync, SpillDir, walk } from '../../lib/vfs/index.ts';

const isRoot = process.getuid?.() === 0;
const hasUmoci = spawnSync('umoci', ['--version']).status === 0;

function run(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The canonical line of one path; the same format as DUMP_PY prints. */
function line(path: string, type: string, mode: number, uid: number, gid: number, detail: string, xattrs: string, link: string): string {
  return `${path} ${type} ${mode.toString(8)} ${uid}:${gid} ${detail} [${xattrs}]${link}`;
}

const DUMP_PY = `
import hashlib, os, stat, sys
root = sys.argv[1]
paths = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        paths.append(os.path.relpath(os.path.join(d, n), root))
paths.sort(key=lambda p: [c.encode('utf-8', 'surrogateescape') for c in p.split('/')])
first = {}
for p in paths:
    st = os.lstat(os.path.join(root, p))
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
        first.setdefault(st.st_ino, p)
for p in paths:
    full = os.path.join(root, p)
    st = os.lstat(full)
    m = st.st_mode
    if stat.S_ISDIR(m): t, detail = 'dir', ''
    elif stat.S_ISREG(m):
        t = 'file'
        with open(full, 'rb') as f: detail = '%d %s' % (st.st_size, hashlib.sha256(f.read()).hexdigest())
    elif stat.S_ISLNK(m): t, detail = 'symlink', '-> ' + os.readlink(full)
    elif stat.S_ISFIFO(m): t, detail = 'fifo', ''
    elif stat.S_ISCHR(m): t, detail = 'char', '%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
    elif stat.S_ISBLK(m): t, detail = 'block', '%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
    else: t, detail = 'other', ''
    xs = [] if stat.S_ISLNK(m) else sorted(k for k in os.listxattr(full, follow_symlinks=False) if k.startswith('user.'))
    xattrs = ','.join('%s=%s' % (k, os.getxattr(full, k, follow_symlinks=False).hex()) for k in xs)
    link = ' link=' + first[st.st_ino] if st.st_ino in first and not stat.S_ISDIR(m) else ''
    mode = stat.S_IMODE(m) if not stat.S_ISLNK(m) else 0o777
    print('%s %s %o %d:%d %s [%s]%s' % (p, t, mode, st.st_uid, st.st_gid, detail, xattrs, link))
`;

/** The same lines for a kiln tree (symlink modes are not compared: Linux has none). */
function dumpKiln(root: DirNode): string[] {
  const members = new Map<LinkGroup, string[]>();
  walk(root, (p, n) => {
    if (n.kind !== 'dir' && n.link !== undefined) members.set(n.link, [...(members.get(n.link) ?? []), p.join('/')]);
  });
  const out: string[] = [];
  walk(root, (p, n) => {
    let detail = '';
    if (n.kind === 'file') detail = `${n.size} ${createHash('sha256').update(readContentSync(n.content)).digest('hex')}`;
    else if (n.kind === 'symlink') detail = `-> ${n.target}`;
    else if (n.kind === 'char' || n.kind === 'block') detail = `${n.major},${n.minor}`;
    const xattrs = Object.keys(n.meta.xattrs ?? {})
      .filter((k) => k.startsWith('user.') && n.kind !== 'symlink')
      .sort()
      .map((k) => `${k}=${n.meta.xattrs![k]!.toString('hex')}`)
      .join(',');
    const group = n.kind !== 'dir' && n.link !== undefined ? members.get(n.link)! : [];
    out.push(line(p.join('/'), n.kind, n.kind === 'symlink' ? 0o777 : n.meta.mode, n.meta.uid, n.meta.gid, detail, xattrs, group.length > 1 ? ` link=${group[0]}` : ''));
  });
  return out;
}

function setXattr(path: string, key: string, value: string): void {
  run('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())', path, key, value]);
}

/** The first tree: every kind, special modes, owners, hard links, xattrs, long and non-ASCII names. */
function populate(r: string): void {
  mkdirSync(join(r, 'etc/conf.d'), { recursive: true });
  mkdirSync(join(r, 'usr/bin'), { recursive: true });
  mkdirSync(join(r, 'var/cache/apt'), { recursive: true });
  mkdirSync(join(r, 'opt/gone/deeper'), { recursive: true });
  mkdirSync(join(r, 'tmp'));
  chmodSync(join(r, 'tmp'), 0o1777);
  writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(r, 'etc/motd'), 'welcome\n');
  writeFileSync(join(r, 'etc/conf.d/a.conf'), 'a=1\n');
  writeFileSync(join(r, 'etc/conf.d/b.conf'), 'b=2\n');
  writeFileSync(join(r, 'usr/bin/tool'), Buffer.alloc(200_000, 7));
  chmodSync(join(r, 'usr/bin/tool'), 0o4755);
  linkSync(join(r, 'usr/bin/tool'), join(r, 'usr/bin/tool-alias'));
  writeFileSync(join(r, 'usr/bin/pair'), 'pair');
  linkSync(join(r, 'usr/bin/pair'), join(r, 'usr/bin/pair2'));
  symlinkSync('usr/bin', join(r, 'bin'));
  symlinkSync('/etc/passwd', join(r, 'etc/abs-link'));
  for (let i = 0; i < 30; i++) writeFileSync(join(r, `var/cache/apt/pkg${i}.deb`), `package ${i}\n`);
  writeFileSync(join(r, 'opt/gone/deeper/file'), 'deep');
  writeFileSync(join(r, 'opt/owned'), 'owned');
  chownSync(join(r, 'opt/owned'), 1000, 3_000_000);
  chownSync(join(r, 'opt/gone'), 33, 33);
  writeFileSync(join(r, `opt/${'long-name-'.repeat(20)}`), 'long');
  writeFileSync(join(r, 'opt/ünïcødé'), 'unicode');
  setXattr(join(r, 'etc/passwd'), 'user.note', 'hello');
  run('mkfifo', [join(r, 'tmp/fifo')]);
  run('mknod', [join(r, 'tmp/null'), 'c', '1', '3']);
}

/** The second tree: deletions (files, a whole directory), kind changes, a directory emptied and refilled, links made and broken. */
function edit(r: string): void {
  unlinkSync(join(r, 'etc/conf.d/b.conf'));
  rmSync(join(r, 'opt/gone'), { recursive: true });
  rmSync(join(r, 'etc/motd'));
  mkdirSync(join(r, 'etc/motd'));
  writeFileSync(join(r, 'etc/motd/now-a-dir'), 'x');
  rmSync(join(r, 'etc/conf.d/a.conf'));
  writeFileSync(join(r, 'etc/conf.d/a.conf'), 'replaced\n');
  rmSync(join(r, 'var/cache/apt'), { recursive: true });
  mkdirSync(join(r, 'var/cache/apt'));
  writeFileSync(join(r, 'var/cache/apt/fresh'), 'fresh');
  unlinkSync(join(r, 'usr/bin/pair2'));
  linkSync(join(r, 'usr/bin/tool'), join(r, 'usr/bin/tool-third'));
  rmSync(join(r, 'bin'));
  writeFileSync(join(r, 'bin'), 'bin is a file now');
  chmodSync(join(r, 'opt/owned'), 0o600);
  chownSync(join(r, 'opt/owned'), 5, 6);
  setXattr(join(r, 'opt/owned'), 'user.added', 'later');
}

describe('kiln applies umoci-made layers to the tree umoci unpacks', { skip: !(isRoot && hasUmoci) && 'needs root and umoci' }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-umoci-'));
  const spill = SpillDir.create();
  after(() => {
    spill.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('two layers (additions, then deletions and replacements with whiteouts)', async () => {
    const layout = join(tmp, 'L');
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', `${layout}:t`]);
    run('umoci', ['unpack', '--image', `${layout}:t`, join(tmp, 'b1')]);
    populate(join(tmp, 'b1/rootfs'));
    run('umoci', ['repack', '--image', `${layout}:t`, join(tmp, 'b1')]);
    run('umoci', ['unpack', '--image', `${layout}:t`, join(tmp, 'b2')]);
    edit(join(tmp, 'b2/rootfs'));
    run('umoci', ['repack', '--image', `${layout}:t`, join(tmp, 'b2')]);
    run('umoci', ['unpack', '--image', `${layout}:t`, join(tmp, 'final')]);

    const blob = (d: string) => join(layout, 'blobs', d.replace(':', '/'));
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
    assert.equal(manifest.layers.length, 2);
    // The second layer must really exercise whiteouts (read with Python, not kiln).
    const second = gunzipSync(readFileSync(blob(manifest.layers[1]!.digest)));
    const listing = spawnSync('python3', ['-c', 'import tarfile,sys,io\nfor m in tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read())): print(m.name)'], { input: second, encoding: 'utf8' }).stdout;
    assert.match(listing, /\.wh\.b\.conf/);
    assert.match(listing, /\.wh\.gone/);

    let tree = emptyDir();
    for (const l of manifest.layers) tree = await applyLayer(tree, createReadStream(blob(l.digest)), { spill });
    const want = run('python3', ['-c', DUMP_PY, join(tmp, 'final/rootfs')]).trimEnd().split('\n');
    assert.ok(want.length > 20, `the unpacked tree is not trivially small: ${want.length} paths`);
    assert.deepEqual(dumpKiln(tree), want);
  });
});
