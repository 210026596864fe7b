/**
 * Base images and COPY --from images through a registry mirror, as issue 6's
 * seed shapes need: `COPY --from=nginx:latest /etc/nginx/nginx.conf
 * /nginx.conf` with "nginx" served by a local registry standing in for
 * Docker Hub (`--registry-mirror docker.io=…`), and FROM busybox the same way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pushBaseImages } from '../helpers/base-images.ts';
import { tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { kilnOk, newUser } from './registry-kit.ts';

const tmp = tempDir('kiln-fromreg-');
let reg: RunningRegistry;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  await pushBaseImages(reg);
  // an "nginx" image: busybox plus a config file, built and pushed by kiln
  const publisher = newUser(tmp.dir, 'publisher');
  const ctx = join(tmp.dir, 'nginx-ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'nginx.conf'), 'events {}\nhttp { server { listen 80; } }\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nCOPY nginx.conf /etc/nginx/nginx.conf\nCMD ["nginx", "-g", "daemon off;"]\n');
  const mirror = ['--registry-mirror', `docker.io=http://${reg.host}`];
  await kilnOk(['build', '-q', ...mirror, '-t', 'nginx:latest', ctx], publisher.env);
  await kilnOk(['push', 'nginx:latest', `${reg.host}/library/nginx:latest`], publisher.env);
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

test('COPY --from=nginx:latest and FROM busybox resolve through the registry mirror into an empty store', async () => {
  const user = newUser(tmp.dir, 'builder');
  const ctx = join(tmp.dir, 'app-ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nCOPY --from=nginx:latest /etc/nginx/nginx.conf /nginx.conf\nRUN wc -l /nginx.conf > /lines\n');
  const out = join(tmp.dir, 'rootfs');
  await kilnOk(['build', '-q', '--registry-mirror', `docker.io=http://${reg.host}`, '-o', `type=local,dest=${out}`, ctx], user.env);
  assert.equal(readFileSync(join(out, 'nginx.conf'), 'utf8'), 'events {}\nhttp { server { listen 80; } }\n');
  assert.match(readFileSync(join(out, 'lines'), 'utf8'), /^2 \/nginx.conf/);
  assert.ok(readFileSync(join(out, 'bin', 'busybox')).length > 100_000, 'the busybox base came from the mirror');
});

test('a base pulled for a build keeps its name in the store, as docker build does: the next build needs no registry', async () => {
  const user = newUser(tmp.dir, 'again');
  const ctx = join(tmp.dir, 'again-ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nRUN echo built > /b\n');
  await kilnOk(['build', '-q', '--registry-mirror', `docker.io=http://${reg.host}`, '-t', 'again:1', ctx], user.env);
  const images = (await kilnOk(['images'], user.env)).stdout;
  assert.match(images, /^busybox\s+latest\s/m, 'the base is listed');
  // the mirror now points nowhere: the base must come from the store
  const nowhere = ['--registry-mirror', 'docker.io=http://127.0.0.1:9'];
  await kilnOk(['build', '-q', ...nowhere, '-t', 'again:2', ctx], { ...user.env, KILN_REGISTRY_MIRRORS: '' });
  // --pull asks the registry again
  await kilnOk(['build', '-q', '--pull', '--registry-mirror', `docker.io=http://${reg.host}`, '-t', 'again:3', ctx], user.env);
});
