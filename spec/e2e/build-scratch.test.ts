/**
 * The first vertical slice end to end through the real CLI: a FROM scratch
 * Dockerfile with files and metadata becomes an OCI image that independent
 * tools (umoci, skopeo, the OCI JSON schemas through ajv) accept.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyContext, run, runKiln, tempDir } from '../helpers/kiln.ts';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';

describe('kiln build of testdata/build/scratch-app', () => {
  const tmp = tempDir();
  const ctx = join(tmp.dir, 'ctx');
  const layout = join(tmp.dir, 'layout');
  const dockerTar = join(tmp.dir, 'image.docker.tar');
  const home = join(tmp.dir, 'home');
  const rootfsDir = join(tmp.dir, 'rootfs');
  const rootfsTar = join(tmp.dir, 'rootfs.tar');
  const ociTar = join(tmp.dir, 'image.oci.tar');
  let build: ReturnType<typeof runKiln>;

  before(() => {
    copyContext('scratch-app', ctx);
    // git keeps only 0644/0755; pin the modes so the expectations below are exact
    for (const f of ['site/index.html', 'site/css/style.css', 'config/app.conf', 'notes.txt']) chmodSync(join(ctx, f), 0o644);
    for (const f of ['bin/serve', 'bin/helper']) chmodSync(join(ctx, f), 0o755);
    build = runKiln(['build', '-t', 'kiln-test/app:1', '-o', `type=oci,dest=${layout},tar=false`, '-o', `type=docker,dest=${dockerTar}`,
      '-o', `type=local,dest=${rootfsDir}`, '-o', `type=tar,dest=${rootfsTar}`, '-o', `type=oci,dest=${ociTar}`, ctx], {
      env: { KILN_HOME: home, SOURCE_DATE_EPOCH: '1700000000' },
    });
  });
  after(() => tmp.cleanup());

  test('the build succeeds', () => {
    assert.equal(build.status, 0, build.stderr);
  });

  test('every blob, digest, diffID and document of the OCI layout is valid (recomputed independently, OCI schemas)', async () => {
    await assertValidLayout(layout);
  });

  test('umoci unpack gives the files with the expected modes and owners', () => {
    const bundle = join(tmp.dir, 'bundle');
    run('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
    const root = join(bundle, 'rootfs');
    const expect: [string, number, number, number][] = [
      ['srv/app/site/index.html', 0o100644, 0, 0],
      ['srv/app/site/css/style.css', 0o100644, 0, 0],
      ['srv/app/notes.txt', 0o100644, 0, 0],
      ['etc/app/app.conf', 0o100640, 1000, 1000],
      ['usr/local/bin/serve', 0o100755, 0, 0],
      ['usr/local/bin/helper', 0o100755, 0, 0],
      ['srv/app', 0o40755, 0, 0],
      // BuildKit (fsutil #228) gives directories COPY creates the --chmod mode
      ['etc/app', 0o40640, 1000, 1000],
    ];
    for (const [path, mode, uid, gid] of expect) {
      const st = lstatSync(join(root, path));
      assert.deepEqual([path, st.mode, st.uid, st.gid], [path, mode, uid, gid]);
    }
    assert.equal(readFileSync(join(root, 'srv/app/site/index.html'), 'utf8'), readFileSync(join(ctx, 'site/index.html'), 'utf8'));
    assert.equal(existsSync(join(root, 'srv/app/site/drafts')), false, '.dockerignore excludes site/drafts');
    assert.equal(existsSync(join(root, 'srv/app/README.md')), false);
    assert.equal(existsSync(join(root, 'data')), false, 'VOLUME does not create the directory');
  });

  test('skopeo inspect shows the expected config', () => {
    const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${layout}:1`]));
    assert.equal(cfg.architecture, 'amd64');
    assert.equal(cfg.os, 'linux');
    assert.equal(cfg.created, '2023-11-14T22:13:20Z');
    assert.deepEqual(cfg.config, {
      User: '1000:1000',
      ExposedPorts: { '8080/tcp': {}, '9000/udp': {}, '9001/udp': {} },
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/srv/app', 'GREETING=hello world'],
      Entrypoint: ['/usr/local/bin/serve'],
      Cmd: ['--port', '8080'],
      ArgsEscaped: true,
      Volumes: { '/data': {} },
      WorkingDir: '/srv/app',
      Labels: { 'org.opencontainers.image.title': 'kiln test app', maintainer: 'kiln' },
      StopSignal: 'SIGTERM',
    });
    const history = cfg.history as { created_by: string; empty_layer?: boolean }[];
    assert.deepEqual(history.map((h) => h.created_by), [
      'LABEL org.opencontainers.image.title=kiln test app maintainer=kiln',
      'ENV APP_HOME=/srv/app GREETING=hello world',
      'WORKDIR /srv/app',
      'COPY site/ ./site/ # buildkit',
      'COPY --chown=1000:1000 --chmod=0640 config/app.conf /etc/app/ # buildkit',
      'COPY bin/* /usr/local/bin/ # buildkit',
      'ADD notes.txt . # buildkit',
      'USER 1000:1000',
      'EXPOSE [8080/tcp 9000/udp 9001/udp]',
      'VOLUME [/data]',
      'STOPSIGNAL SIGTERM',
      'ENTRYPOINT ["/usr/local/bin/serve"]',
      'CMD ["--port" "8080"]',
    ]);
    const withLayer = history.filter((h) => !h.empty_layer).length;
    assert.equal(withLayer, cfg.rootfs.diff_ids.length);
    assert.equal(withLayer, 5);
  });

  test('type=local and type=tar export the same root filesystem as the image', () => {
    const bundle = join(tmp.dir, 'bundle-cmp');
    run('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
    const list = (dir: string) => run('sh', ['-c', `cd "${dir}" && find . -mindepth 1 -printf '%p %M %U:%G %s %T@\\n' | sort`]);
    assert.equal(list(rootfsDir), list(join(bundle, 'rootfs')));
    const fromTar = join(tmp.dir, 'from-tar');
    run('mkdir', [fromTar]);
    run('tar', ['-xpf', rootfsTar, '-C', fromTar, '--numeric-owner']);
    assert.equal(list(fromTar), list(rootfsDir));
  });

  test('type=oci without tar=false writes an OCI archive skopeo reads', () => {
    const viaArchive = JSON.parse(run('skopeo', ['inspect', '--raw', `oci-archive:${ociTar}:1`]));
    const viaDir = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${layout}:1`]));
    assert.deepEqual(viaArchive, viaDir);
  });

  test('skopeo copies the docker-archive output to an OCI layout with the same diffIDs', () => {
    const copied = join(tmp.dir, 'copied');
    run('skopeo', ['copy', `docker-archive:${dockerTar}`, `oci:${copied}:t`]);
    const a = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${copied}:t`]));
    const b = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${layout}:1`]));
    assert.deepEqual(a.rootfs.diff_ids, b.rootfs.diff_ids);
    assert.deepEqual(a.config, b.config);
  });

  test('the image is in the local store: kiln images and kiln inspect', () => {
    const images = runKiln(['images'], { env: { KILN_HOME: home } });
    assert.equal(images.status, 0, images.stderr);
    const [header, ...rows] = images.stdout.trimEnd().split('\n');
    assert.match(header!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    const cfgDigest = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${layout}:1`])).config.digest as string;
    const row = rows.find((r) => r.startsWith('kiln-test/app '));
    assert.ok(row, images.stdout);
    assert.match(row!, new RegExp(`^kiln-test/app\\s+1\\s+${cfgDigest.slice(7, 19)}\\s+\\d+ years ago\\s+\\d+(\\.\\d+)?kB$`));
    const inspect = runKiln(['inspect', 'kiln-test/app:1'], { env: { KILN_HOME: home } });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.equal(JSON.parse(inspect.stdout).config.WorkingDir, '/srv/app');
  });
});
