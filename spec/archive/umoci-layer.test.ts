import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decompressStream, readTar } from '../../lib/archive/index.ts';
import { collect, has, run, tempDir } from './tar-tools.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('readTar on a real umoci insert layer', () => {
  it('reads every entry although the layer lacks the end-of-archive blocks', async (t) => {
    if (!has('umoci')) {
      t.skip('umoci is not installed');
      return;
    }
    const { dir, cleanup } = tempDir();
    try {
      const src = join(dir, 'src');
      mkdirSync(join(src, 'sub'), { recursive: true });
      const files: Record<string, Buffer> = {
        'a.txt': Buffer.from('hello\n'),
        'sub/b.bin': Buffer.alloc(1300, 0x62),
        'sub/zz-last.txt': Buffer.from('the last entry is 23 b\n'),
      };
      for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
      symlinkSync('a.txt', join(src, 'link'));
      const layout = join(dir, 'layout');
      run('umoci', ['init', '--layout', layout]);
      run('umoci', ['new', '--image', `${layout}:t`]);
      run('umoci', ['insert', '--image', `${layout}:t`, src, '/opt/x']);

      const blob = (digest: string) => join(layout, 'blobs', digest.replace(':', '/'));
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
      assert.equal(manifest.layers.length, 1);
      const layerPath = blob(manifest.layers[0]!.digest);

      // The quirk under test: GNU tar cannot read this layer to its end.
      const raw = run('gzip', ['-dc', layerPath]);
      assert.notEqual(raw.length % 512, 0, 'umoci now writes whole blocks; this test no longer covers the short layer');
      assert.throws(() => run('tar', ['-tf', '-'], { input: raw }), /Unexpected EOF/);

      const seen: Record<string, string> = {};
      await readTar(decompressStream(createReadStream(layerPath)), async (h, body) => {
        const data = await collect(body);
        seen[h.name] = h.type === 'file' ? sha(data) : h.type === 'symlink' ? `-> ${h.linkname}` : h.type;
      });
      assert.deepEqual(seen, {
        'opt/x': 'directory',
        'opt/x/a.txt': sha(files['a.txt']!),
        'opt/x/link': '-> a.txt',
        'opt/x/sub': 'directory',
        'opt/x/sub/b.bin': sha(files['sub/b.bin']!),
        'opt/x/sub/zz-last.txt': sha(files['sub/zz-last.txt']!),
      });
    } finally {
      cleanup();
    }
  });
});
