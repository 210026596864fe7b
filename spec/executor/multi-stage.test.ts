/**
 * FROM an image in the local store, FROM an earlier stage, COPY --from by
 * stage name, index and image, ONBUILD triggers, and config inheritance
 * (BuildKit: dispatchState from the base image; ONBUILD runs right after
 * FROM and is not passed on; a stage FROM another inherits its ARGs).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../lib/build.ts';
import type { Image } from '../../lib/image/index.ts';
import { writeContext } from './build-kit.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-ms-'));
const home = join(tmp, 'home');
after(() => rmSync(tmp, { recursive: true, force: true }));

async function buildCtx(name: string, files: Record<string, string>, tags: string[], target?: string): Promise<Image> {
  const ctx = writeContext(join(tmp, name), files);
  const r = await build({ contextDir: ctx, home, tags, epoch: 1_700_000_000, ...(target ? { target } : {}), outputs: [{ type: 'local', dest: join(tmp, `${name}-out`) }] });
  return r.image;
}

async function filesOf(image: Image): Promise<Map<string, string>> {
  const { spawnSync } = await import('node:child_process');
  const out = new Map<string, string>();
  for (const layer of image.layers) {
    const chunks: Buffer[] = [];
    for await (const c of await layer.openUncompressed()) chunks.push(c as Buffer);
    const py = 'import sys,tarfile,io,json\nt=tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()))\nprint(json.dumps({m.name:(t.extractfile(m).read().decode() if m.isfile() else m.type.decode()) for m in t}))';
    const r = spawnSync('python3', ['-c', py], { input: Buffer.concat(chunks), encoding: 'utf8' });
    for (const [k, v] of Object.entries(JSON.parse(r.stdout) as Record<string, string>)) out.set(k, v);
  }
  return out;
}

describe('multi-stage builds without RUN', () => {
  let base: Image;
  before(async () => {
    base = await buildCtx('base', {
      Dockerfile: 'FROM scratch\nCOPY base.txt /etc/base.txt\nENV BASEVAR=1\nWORKDIR /srv\nUSER 1000\nEXPOSE 80\nONBUILD COPY trigger.txt /onbuild/\nCMD ["/bin/x"]\n',
      'base.txt': 'base',
    }, ['kiln-base:1']);
  });

  test('FROM an image in the local store inherits its files and config; its ONBUILD runs and is not passed on', async () => {
    const img = await buildCtx('child', { Dockerfile: 'FROM kiln-base:1\nCOPY app.txt app.txt\n', 'app.txt': 'app', 'trigger.txt': 'trig' }, ['child:1']);
    const cfg = img.config.config!;
    assert.deepEqual(cfg.Env, base.config.config!.Env);
    assert.equal(cfg.WorkingDir, '/srv');
    assert.equal(cfg.User, '1000');
    assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {} });
    assert.deepEqual(cfg.Cmd, ['/bin/x']);
    assert.equal(cfg.OnBuild, undefined, 'triggers are not passed on');
    assert.deepEqual(img.config.rootfs.diff_ids.slice(0, base.layers.length), base.config.rootfs.diff_ids, 'base layers pass through');
    assert.deepEqual(img.layers.slice(0, base.layers.length).map((l) => l.descriptor.digest), base.layers.map((l) => l.descriptor.digest), 'base blobs untouched');
    const files = await filesOf(img);
    assert.equal(files.get('onbuild/trigger.txt'), 'trig');
    assert.equal(files.get('srv/app.txt'), 'app');
    assert.equal(files.get('etc/base.txt'), 'base');
    assert.equal((img.config.history ?? []).filter((h) => !h.empty_layer).length, img.layers.length);
  });

  test('COPY --from by stage name (any case), by index and by image', async () => {
    const img = await buildCtx('copies', {
      Dockerfile: 'FROM scratch AS Builder\nCOPY a.txt /build/a.txt\n\nFROM scratch\nCOPY --from=builder /build/a.txt /by-name\nCOPY --from=0 /build/a.txt /by-index\nCOPY --from=kiln-base:1 /etc/base.txt /by-image\n',
      'a.txt': 'A',
    }, ['copies:1']);
    const files = await filesOf(img);
    assert.deepEqual([files.get('by-name'), files.get('by-index'), files.get('by-image')], ['A', 'A', 'base']);
    assert.equal(files.get('build/a.txt'), undefined, 'the final stage does not contain the builder');
  });

  test('--target builds only what the target needs; a skipped stage with a missing image does not fail', async () => {
    const files = { Dockerfile: 'FROM kiln-test.invalid/nope:1 AS unused\nCOPY a.txt /\n\nFROM scratch AS one\nCOPY a.txt /one\n\nFROM one\nCOPY a.txt /two\n', 'a.txt': 'A' };
    const img = await buildCtx('target', files, [], 'one');
    assert.deepEqual([...(await filesOf(img)).keys()].sort(), ['one']);
    const last = await buildCtx('target2', files, []);
    assert.deepEqual([...(await filesOf(last)).keys()].sort(), ['one', 'two']);
    await assert.rejects(buildCtx('target3', files, [], 'unused'), (e: { code?: string; location?: { line: number } }) => {
      assert.equal(e.code, 'IMAGE_NOT_FOUND');
      assert.equal(e.location?.line, 1);
      return true;
    });
  });
});
