/**
 * `COPY --from=<image>` fetches only the layers that decide the copied
 * paths (issue 6): blob GETs are counted at a proxy in front of the real
 * registry. Which layer holds which file is read independently, with GNU
 * tar, from the blobs the registry serves.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { type FaultProxy, startFaultProxy } from '../registry/fault-proxy.ts';
import { kilnOk, newUser } from './registry-kit.ts';

const tmp = tempDir('kiln-copyfrom-');
let reg: RunningRegistry;
let proxy: FaultProxy;
/** The image's layer digests, bottom first, and the paths each one lists (from `tar -tzf`). */
let layers: { digest: string; paths: string[] }[];
let configDigest: string;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  const publisher = newUser(tmp.dir, 'publisher');
  const ctx = join(tmp.dir, 'img-ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'bottom.txt'), 'from the bottom layer\n');
  writeFileSync(join(ctx, 'big.bin'), randomBytes(2 << 20));
  writeFileSync(join(ctx, 'top.conf'), 'from the top layer\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY bottom.txt /data/bottom.txt\nCOPY big.bin /data/big.bin\nCOPY top.conf /etc/app/top.conf\n');
  await kilnOk(['build', '-q', '-t', 'img:1', ctx], publisher.env);
  await kilnOk(['push', 'img:1', `${reg.host}/lib/img:1`], publisher.env);
  const manifest = JSON.parse(await (await fetch(`${reg.url}/v2/lib/img/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).text()) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  configDigest = manifest.config.digest;
  layers = [];
  for (const l of manifest.layers) {
    const blob = Buffer.from(await (await fetch(`${reg.url}/v2/lib/img/blobs/${l.digest}`)).arrayBuffer());
    const file = join(tmp.dir, `${l.digest.slice(7)}.tgz`);
    writeFileSync(file, blob);
    layers.push({ digest: l.digest, paths: execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n').filter((p) => p !== '') });
  }
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
  tmp.cleanup();
});

/** The blobs of lib/img fetched (GET) through the proxy since `from`. */
function blobGets(from: number): Set<string> {
  return new Set(proxy.records.slice(from).filter((r) => r.method === 'GET' && r.path.startsWith('/v2/lib/img/blobs/')).map((r) => r.path.slice('/v2/lib/img/blobs/'.length)));
}

async function copyFrom(user: ReturnType<typeof newUser>, name: string, src: string): Promise<string> {
  const ctx = join(tmp.dir, `ctx-${name}`);
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY --from=${proxy.host}/lib/img:1 ${src} /out\n`);
  const out = join(tmp.dir, `out-${name}`);
  await kilnOk(['build', '-q', '-o', `type=local,dest=${out}`, ctx], user.env);
  return readFileSync(join(out, 'out'), 'utf8');
}

test('the image has three layers and the file sits in the top one (checked with GNU tar)', () => {
  assert.equal(layers.length, 3);
  assert.ok(layers[2]!.paths.some((p) => p.replace(/^\.?\//, '') === 'etc/app/top.conf'), layers[2]!.paths.join(' '));
  assert.ok(!layers[0]!.paths.concat(layers[1]!.paths).some((p) => p.includes('top.conf')));
  assert.ok(layers[0]!.paths.some((p) => p.replace(/^\.?\//, '') === 'data/bottom.txt'));
});

test('COPY --from=<image> of a file in the top layer downloads only that layer (and the config)', async () => {
  const user = newUser(tmp.dir, 'top');
  const mark = proxy.records.length;
  assert.equal(await copyFrom(user, 'top', '/etc/app/top.conf'), 'from the top layer\n');
  assert.deepEqual(blobGets(mark), new Set([configDigest, layers[2]!.digest]));
  // the same store again, for a file of the bottom layer: the two layers it lacks, and no other
  const again = proxy.records.length;
  assert.equal(await copyFrom(user, 'bottom-after-top', '/data/bottom.txt'), 'from the bottom layer\n');
  assert.deepEqual(blobGets(again), new Set([layers[0]!.digest, layers[1]!.digest]));
});

test('a file of the bottom layer needs every layer above it read to be decided', async () => {
  const user = newUser(tmp.dir, 'bottom');
  const mark = proxy.records.length;
  assert.equal(await copyFrom(user, 'bottom', '/data/bottom.txt'), 'from the bottom layer\n');
  assert.deepEqual(blobGets(mark), new Set([configDigest, ...layers.map((l) => l.digest)]));
});
