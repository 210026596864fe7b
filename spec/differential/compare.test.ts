/**
 * The differential kit's own checks, without any builder: rootfsFacts reads
 * what GNU coreutils made on disk, compareImages reports every kind of
 * difference, and each exception explains only the difference it is about.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageConfig } from '../../lib/oci/types.ts';
import { tempDir } from '../helpers/kiln.ts';
import { compareImages, describeDifference, type Difference } from './compare.ts';
import { type Corpus, EXCEPTIONS, type ExceptionContext, explain } from './exceptions.ts';
import type { PeerImage, PeerName } from './peers.ts';
import { type EntryFacts, rootfsFacts } from './rootfs-facts.ts';

const tmp = tempDir('kiln-differential-kit-');
after(() => tmp.cleanup());

const file = (sha256: string, extra: Partial<EntryFacts> = {}): EntryFacts => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 5, sha256, mtime: 1000, ...extra });
const dir = (extra: Partial<EntryFacts> = {}): EntryFacts => ({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1000, ...extra });

function image(peer: PeerName, paths: Record<string, EntryFacts>, config: Partial<ImageConfig> = {}, layerCount = 1): PeerImage {
  return {
    peer,
    rootfs: new Map(Object.entries({ '/': dir(), ...paths })),
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, ...config } as ImageConfig,
    layerCount,
  };
}

const ctx = (kiln: PeerImage, buildah: PeerImage, dockerfile = 'FROM busybox\n') => ({ kiln, buildah, dockerfile });
/** The exception explaining `d` in the `corpus` (default: the cases without RUN). */
const why = (d: Difference, c: ExceptionContext, corpus: Corpus = 'build'): string | undefined => explain(d, c, corpus)?.id;

describe('rootfsFacts', () => {
  test('reads type, mode, owner, size, hash, link target and hardlink groups as coreutils made them', () => {
    const root = join(tmp.dir, 'facts');
    mkdirSync(join(root, 'd'), { recursive: true });
    writeFileSync(join(root, 'd', 'f'), 'hello');
    chownSync(join(root, 'd', 'f'), 12, 34); // before chmod: chown clears setuid
    chmodSync(join(root, 'd', 'f'), 0o4750);
    linkSync(join(root, 'd', 'f'), join(root, 'h'));
    symlinkSync('../h', join(root, 'd', 'l'));
    execFileSync('mkfifo', [join(root, 'p')]);
    const facts = rootfsFacts(root);
    const sha = execFileSync('sha256sum', [join(root, 'd', 'f')], { encoding: 'utf8' }).split(' ')[0];
    assert.deepEqual([...facts.keys()], ['/', '/d', '/d/f', '/d/l', '/h', '/p']);
    const { mtime: _m, ...f } = facts.get('/d/f')!;
    assert.deepEqual(f, { type: 'file', mode: 0o4750, uid: 12, gid: 34, size: 5, sha256: sha, hardlinks: ['/d/f', '/h'] });
    assert.equal(facts.get('/d/l')?.link, '../h');
    assert.equal(facts.get('/p')?.type, 'fifo');
  });
});

describe('compareImages', () => {
  test('identical images: no difference', () => {
    const paths = { '/a': file('aa'), '/d': dir() };
    assert.deepEqual(compareImages(image('kiln', paths), image('buildah', paths)), []);
  });

  test('reports missing paths, each differing fact, config fields and history shape', () => {
    const kiln = image('kiln', { '/a': file('aa'), '/only-kiln': dir() }, {
      config: { Env: ['A=1'], Cmd: ['x'], Labels: {} },
      history: [{ created_by: 'COPY' }, { created_by: 'ENV', empty_layer: true }],
    }, 1);
    const buildah = image('buildah', { '/a': file('bb', { mode: 0o600, uid: 1 }), '/only-buildah': dir() }, {
      config: { Env: ['A=2'], Cmd: ['x'], Entrypoint: [] },
      history: [{ created_by: 'COPY' }, { created_by: 'ENV' }],
    }, 2);
    assert.deepEqual(compareImages(kiln, buildah).map(describeDifference), [
      '/a: mode kiln=420 buildah=384, uid kiln=0 buildah=1, sha256 kiln="aa" buildah="bb"',
      '/only-buildah: only in buildah {"type":"dir","mode":493,"uid":0,"gid":0}',
      '/only-kiln: only in kiln {"type":"dir","mode":493,"uid":0,"gid":0}',
      'config Env: kiln=["A=1"] buildah=["A=2"]',
      'history layers: kiln=1 buildah=2',
      'history empty_layer[1]: kiln="ENV" buildah="ENV"',
    ]);
  });

  test('empty lists and maps, and zero health check durations, are the same as absent ones', () => {
    const kiln = image('kiln', {}, { config: { Healthcheck: { Test: ['NONE'] } } });
    const buildah = image('buildah', {}, { config: { Entrypoint: [], OnBuild: [], Labels: {}, Volumes: {}, Healthcheck: { Test: ['NONE'], Interval: 0, Retries: 0 } } });
    assert.deepEqual(compareImages(kiln, buildah), []);
  });
});

describe('exceptions', () => {
  const differences = (kiln: PeerImage, buildah: PeerImage): Difference[] => compareImages(kiln, buildah);

  test('every entry gives what buildah does, a reason and a source reference', () => {
    for (const e of EXCEPTIONS) {
      assert.match(e.id, /^[a-z-]+$/);
      for (const text of [e.buildah, e.reason, e.reference]) assert.ok(text.length > 20, `${e.id}: too short`);
      assert.match(e.reference, /(moby\/buildkit|tonistiigi\/fsutil|containers\/storage) \S+\.go/);
    }
  });

  test('buildah\'s empty mount stubs are explained; the same file with content is not', () => {
    const kiln = image('kiln', {});
    const stubs = image('buildah', { '/etc/hosts': file('e3', { size: 0, mode: 0o755 }) });
    const full = image('buildah', { '/etc/hosts': file('e3', { size: 9 }) });
    assert.equal(why(differences(kiln, stubs)[0]!, ctx(kiln, stubs), 'run'), 'run-mount-stubs');
    assert.equal(why(differences(kiln, stubs)[0]!, ctx(kiln, stubs), 'build'), undefined, 'no RUN, no stubs');
    assert.equal(why(differences(kiln, full)[0]!, ctx(kiln, full), 'run'), undefined);
  });

  test('a shell-form CMD is explained only when kiln used the image\'s SHELL', () => {
    const buildah = image('buildah', {}, { config: { Cmd: ['/bin/sh', '-c', 'echo hi'] } });
    const withShell = image('kiln', {}, { config: { Shell: ['/bin/sh', '-ec'], Cmd: ['/bin/sh', '-ec', 'echo hi'] } });
    const wrong = image('kiln', {}, { config: { Shell: ['/bin/sh', '-ec'], Cmd: ['/bin/sh', '-ec', 'echo ho'] } });
    const cmdDiff = (k: PeerImage) => differences(k, buildah).find((d) => d.kind === 'config' && d.field === 'Cmd')!;
    assert.equal(why(cmdDiff(withShell), ctx(withShell, buildah)), 'shell-form-uses-shell');
    assert.equal(why(cmdDiff(wrong), ctx(wrong, buildah)), undefined);
  });

  test('EXPOSE: ranges and protocol case are explained, a missing port is not', () => {
    const buildah = image('buildah', {}, { config: { ExposedPorts: { '7000-7001/tcp': {}, '53/UDP': {} } } });
    const same = image('kiln', {}, { config: { ExposedPorts: { '7000/tcp': {}, '7001/tcp': {}, '53/udp': {} } } });
    const short = image('kiln', {}, { config: { ExposedPorts: { '7000/tcp': {}, '53/udp': {} } } });
    assert.equal(why(differences(same, buildah)[0]!, ctx(same, buildah)), 'expose-normalized');
    assert.equal(why(differences(short, buildah)[0]!, ctx(short, buildah)), undefined);
  });

  test('Env: a reordering is explained, a changed value is not', () => {
    const buildah = image('buildah', {}, { config: { Env: ['A=1', 'PATH=/x'] } });
    const moved = image('kiln', {}, { config: { Env: ['PATH=/x', 'A=1'] } });
    const changed = image('kiln', {}, { config: { Env: ['PATH=/y', 'A=1'] } });
    assert.equal(why(differences(moved, buildah)[0]!, ctx(moved, buildah)), 'env-keeps-position');
    assert.equal(why(differences(changed, buildah)[0]!, ctx(changed, buildah)), undefined);
  });

  test('COPY through a destination symlink: both halves explained, unrelated content is not', () => {
    const kiln = image('kiln', { '/bin/busybox': file('new'), '/bin/sh': { type: 'symlink', mode: 0o777, uid: 0, gid: 0, link: 'busybox', mtime: 1 } });
    const buildah = image('buildah', { '/bin/busybox': file('old'), '/bin/sh': file('new') });
    const ds = differences(kiln, buildah);
    assert.deepEqual(ds.map((d) => why(d, ctx(kiln, buildah))), ['copy-dest-symlink-followed', 'copy-dest-symlink-followed']);
    const other = image('buildah', { '/bin/busybox': file('old'), '/bin/sh': file('other') });
    assert.deepEqual(differences(kiln, other).map((d) => why(d, ctx(kiln, other))), [undefined, undefined]);
  });

  test('--chmod on created directories needs the mode in the Dockerfile', () => {
    const kiln = image('kiln', { '/d': dir({ mode: 0o700 }) });
    const buildah = image('buildah', { '/d': dir() });
    const d = differences(kiln, buildah)[0]!;
    assert.equal(why(d, ctx(kiln, buildah, 'COPY --chmod=0700 x /d/\n')), 'chmod-created-dirs');
    assert.equal(why(d, ctx(kiln, buildah, 'COPY x /d/\n')), undefined);
  });

  test('a lost rewrite is explained only in RUN cases, behind an equal size and an mtime set back', () => {
    const created = { created: '2024-01-01T00:00:00Z' };
    const kiln = image('kiln', { '/f': file('new') }, created);
    const pinned = image('buildah', { '/f': file('old') });
    const later = image('buildah', { '/f': file('old', { mtime: 2000 }) });
    const recent = image('kiln', { '/f': file('new', { mtime: Date.parse(created.created) / 1000 }) }, created);
    const recentBuildah = image('buildah', { '/f': file('old', { mtime: Date.parse(created.created) / 1000 }) });
    assert.equal(why(differences(kiln, pinned)[0]!, ctx(kiln, pinned), 'run'), 'naive-diff-pinned-mtime');
    assert.equal(why(differences(kiln, pinned)[0]!, ctx(kiln, pinned), 'build'), undefined);
    assert.equal(why(differences(kiln, later)[0]!, ctx(kiln, later), 'run'), undefined);
    assert.equal(why(differences(recent, recentBuildah)[0]!, ctx(recent, recentBuildah), 'run'), undefined);
  });

  test('WORKDIR: kiln\'s layer and directory are explained, a directory nobody asked for is not', () => {
    const history = [{ created_by: 'ADD x /' }, { created_by: 'WORKDIR /w/x' }];
    const kiln = image('kiln', { '/w': dir(), '/w/x': dir(), '/stray': dir() }, { history }, 2);
    const buildah = image('buildah', {}, { history: [{ created_by: 'ADD x /' }, { created_by: '/bin/sh -c #(nop) WORKDIR /w/x', empty_layer: true }] }, 1);
    assert.deepEqual(differences(kiln, buildah).map((d) => [describeDifference(d).split(':')[0], why(d, ctx(kiln, buildah))]), [
      ['/stray', undefined],
      ['/w', 'workdir-layer'],
      ['/w/x', 'workdir-layer'],
      ['history layers', 'workdir-layer'],
      ['history empty_layer[1]', 'workdir-layer'],
    ]);
  });

  test('hardlinks: a link buildah split is explained in RUN cases, a link buildah has and kiln lacks is not', () => {
    const linked = { hardlinks: ['/a', '/b'] };
    const kiln = image('kiln', { '/a': file('x', linked), '/b': file('x', linked) });
    const split = image('buildah', { '/a': file('x'), '/b': file('x') });
    assert.deepEqual(differences(kiln, split).map((d) => why(d, ctx(kiln, split), 'run')), ['naive-diff-lower-hardlinks', 'naive-diff-lower-hardlinks']);
    assert.deepEqual(differences(split, kiln).map((d) => why(d, ctx(split, kiln), 'run')), [undefined, undefined]);
  });

  test('ONBUILD history and the scratch WorkingDir', () => {
    const kiln = image('kiln', {}, { config: { WorkingDir: '/' }, history: [{ created_by: 'COPY' }] });
    const buildah = image('buildah', {}, { history: [{ created_by: 'COPY' }, { created_by: '/bin/sh -c #(nop) ONBUILD RUN x', empty_layer: true }] });
    assert.deepEqual(differences(kiln, buildah).map((d) => why(d, ctx(kiln, buildah))), ['scratch-workdir', 'onbuild-history']);
    const extra = image('buildah', {}, { history: [{ created_by: 'COPY' }, { created_by: '/bin/sh -c #(nop) LABEL a=b', empty_layer: true }] });
    assert.deepEqual(differences(kiln, extra).map((d) => why(d, ctx(kiln, extra))), ['scratch-workdir', undefined]);
  });

  test('an archive\'s ./ entry: explained on an ADD destination only', () => {
    const kiln = image('kiln', { '/x': dir() });
    const buildah = image('buildah', { '/x': dir({ mode: 0o700, uid: 5, gid: 5 }) });
    const d = differences(kiln, buildah)[0]!;
    assert.equal(why(d, ctx(kiln, buildah, 'FROM busybox\nADD a.tar /x/\n')), 'add-archive-dot-entry');
    assert.equal(why(d, ctx(kiln, buildah, 'FROM busybox\nADD a.tar /y/\nCOPY b /x/\n')), undefined);
  });
});
