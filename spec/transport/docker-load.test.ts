/**
 * `docker load` of kiln's docker-archive, against a real dockerd (Docker
 * 20.10, see ENVIRONMENT.md). Opt-in — it starts a daemon, which writes
 * /etc/docker/key.json and needs root: run with KILN_TEST_DOCKERD=1.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { type Image, appendLayer, withConfig, withFormat } from '../../lib/image/index.ts';
import { writeDockerArchive } from '../../lib/transport/index.ts';
import { type RandomFile, randomImage, randomLayer } from '../helpers/random-image.ts';
import { haveTool, run, tempRoot } from './transport-kit.ts';

const enabled = process.env['KILN_TEST_DOCKERD'] === '1' && haveTool('dockerd') && process.getuid?.() === 0;
const DOCKER = '/usr/bin/docker'; // ENVIRONMENT.md: the docker first in PATH may be another CLI

let root: string;
let cleanup: () => Promise<void>;
let daemon: ChildProcess | undefined;
let env: NodeJS.ProcessEnv;

async function startDockerd(dir: string): Promise<void> {
  const config = join(dir, 'daemon.json');
  await writeFile(config, JSON.stringify({ 'storage-driver': 'vfs', iptables: false, bridge: 'none', 'ip-masq': false }));
  const sock = join(dir, 'docker.sock');
  daemon = spawn('dockerd', ['--config-file', config, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'pid'), '-H', `unix://${sock}`], {
    stdio: 'ignore',
  });
  env = { ...process.env, DOCKER_HOST: `unix://${sock}` };
  for (let i = 0; i < 100; i++) {
    try {
      run('sh', ['-c', `DOCKER_HOST=unix://${sock} ${DOCKER} version >/dev/null`]);
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new Error('dockerd did not start');
}

function docker(args: string[]): string {
  return run('sh', ['-c', `DOCKER_HOST='${env['DOCKER_HOST']}' ${DOCKER} ${args.map((a) => `'${a}'`).join(' ')}`]);
}

describe('docker load of writeDockerArchive output', { skip: enabled ? false : 'set KILN_TEST_DOCKERD=1 (root, dockerd installed)' }, () => {
  let base: Image;
  let top: Image;
  let files: RandomFile[];
  before(async () => {
    ({ dir: root, cleanup } = await tempRoot('kiln-dockerd-'));
    const store = new ContentStore(join(root, 'store'));
    ({ image: base, files } = await randomImage(store, { seed: 81, layers: 2 }));
    base = withConfig(base, (c) => ({ ...c, created: '2024-01-01T00:00:00Z', config: { Cmd: ['/bin/sh'], Env: ['A=1'] } }));
    const { layer, files: more } = await randomLayer(store, { seed: 82 });
    top = withFormat(appendLayer(base, layer, { created_by: 'more' }), 'docker');
    files = [...files, ...more];
    await startDockerd(root);
  });
  after(async () => {
    if (daemon !== undefined) {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon!.once('exit', resolve));
    }
    await cleanup?.();
  });

  it('loads both images with their IDs, diffIDs, tags and files', async () => {
    const file = join(root, 'images.tar');
    await writeDockerArchive(file, [{ image: base, tags: ['kiln-test/base:1'] }, { image: top, tags: ['localhost:5000/kiln-test/top:2'] }]);
    const out = docker(['load', '-i', file]);
    assert.match(out, /Loaded image: kiln-test\/base:1/);
    for (const [tag, img] of [['kiln-test/base:1', base], ['localhost:5000/kiln-test/top:2', top]] as const) {
      const [info] = JSON.parse(docker(['image', 'inspect', tag])) as { Id: string; RootFS: { Layers: string[] } }[];
      assert.equal(info?.Id, img.configDescriptor.digest);
      assert.deepEqual(info?.RootFS.Layers, img.config.rootfs.diff_ids);
    }
    docker(['create', '--name', 'kiln-test-c', 'localhost:5000/kiln-test/top:2']);
    const listing = docker(['export', 'kiln-test-c']);
    for (const f of files) assert.ok(listing.includes(f.path), f.path);
  });
});
