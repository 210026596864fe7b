/**
 * The malicious corpus (testdata/malicious/generate.py): every layer is
 * applied and, when accepted, written to disk with materialize; every build
 * context is built with build() and a local output. Each must be confined
 * to its own folder or refused with a typed error, and afterwards a canary
 * file next to them, a directory outside the contexts, the host's
 * /etc/passwd and the absolute paths the corpus aims at must be untouched.
 * Everything happens in one temp folder; the large gzip bomb and the
 * contexts are generated there at test time, the small layers are the
 * committed ones (checked to be what the generator writes).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../../lib/build.ts';
import { applyLayer, type ApplyLimits, emptyDir, materialize, SpillDir } from '../../lib/vfs/index.ts';

const CORPUS = new URL('../../testdata/malicious/', import.meta.url).pathname;
const ESCAPE = 'kiln-malicious-escape';
const isRoot = process.getuid?.() === 0;

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** What must never change, read fresh each time. */
function snapshot(t: string): string {
  const sentinels = ['/tmp', '/etc', '/', join(t, '..'), t].map((d) => `${d}:${existsSync(join(d, ESCAPE))}:${existsSync(join(d, `${ESCAPE}-2`))}`);
  const canary = statSync(join(t, 'canary'));
  return JSON.stringify({
    canary: [sha(join(t, 'canary')), canary.mtimeMs, canary.mode],
    outside: readdirSync(join(t, 'gen', 'outside')).sort(),
    secret: sha(join(t, 'gen', 'outside', 'secret')),
    passwd: sha('/etc/passwd'),
    sentinels,
  });
}

type Expect = { code: string } | { confined: (root: string) => void };

const LAYERS: [string, Expect, Partial<ApplyLimits>?][] = [
  ['dotdot.tar', { confined: (r) => assert.deepEqual([readFileSync(join(r, 'tmp', ESCAPE), 'utf8'), readFileSync(join(r, `${ESCAPE}-2`), 'utf8')], ['dotdot', 'dotdot 2']) }],
  ['absolute.tar', { confined: (r) => assert.deepEqual([readFileSync(join(r, 'tmp', ESCAPE), 'utf8'), readFileSync(join(r, 'etc', ESCAPE), 'utf8')], ['absolute', 'absolute etc']) }],
  [
    'symlink-etc.tar',
    {
      confined: (r) => {
        assert.match(readFileSync(join(r, 'etc', 'passwd'), 'utf8'), /owned/);
        assert.equal(readlinkSync(join(r, 'evil')), '/etc');
        assert.equal(readFileSync(join(r, ESCAPE), 'utf8'), 'through a relative link');
      },
    },
  ],
  ['hardlink-outside.tar', { code: 'HARDLINK_INVALID' }],
  ['hardlink-outside-existing.tar', { confined: (r) => assert.equal(lstatSync(join(r, 'h')).ino, lstatSync(join(r, 'etc', 'passwd')).ino) }],
  ['symlink-loop.tar', { code: 'SYMLINK_LOOP' }],
  ['symlink-self.tar', { confined: (r) => assert.deepEqual(['loop', 'loop2', 'abs'].map((l) => readlinkSync(join(r, l))), ['loop', 'loop2/x', '/abs']) }],
  ['deep-chain.tar', { code: 'PATH_TOO_DEEP' }],
  ['symlink-deep.tar', { code: 'PATH_TOO_DEEP' }],
  ['long-name.tar', { code: 'NAME_TOO_LONG' }],
  ['long-link.tar', { code: 'PATH_TOO_LONG' }],
  ['duplicates.tar', { confined: (r) => assert.equal(readFileSync(join(r, 'dup'), 'utf8'), 'third') }],
  ['bogus-size.tar', { code: 'TAR_INVALID' }],
  ['bogus-size-huge.tar', { code: 'LAYER_TOO_LARGE' }],
  ['bogus-size-text.tar', { code: 'TAR_INVALID' }],
  ['bad-checksum.tar', { code: 'TAR_INVALID' }],
  ['whiteout-dotdot.tar', { code: 'WHITEOUT_INVALID' }],
  ['whiteout-escape.tar', { confined: (r) => assert.deepEqual(readdirSync(r), []) }],
  ['sparse-bomb.tar', { code: 'LAYER_TOO_LARGE' }],
  ['bomb.tar.gz', { code: 'LAYER_TOO_LARGE' }, { maxBytes: 64 << 20 }],
  ['bomb.tar.gz', { code: 'LAYER_RATIO_EXCEEDED' }, { maxRatio: 100, ratioGrace: 1 << 20 }],
];

const CONTEXTS: [string, Expect][] = [
  ['escape-relative', { code: 'COPY_SOURCE_OUTSIDE_CONTEXT' }],
  ['escape-absolute', { code: 'COPY_SOURCE_OUTSIDE_CONTEXT' }],
  ['canary-link', { code: 'COPY_SOURCE_OUTSIDE_CONTEXT' }],
  [
    'copy-all',
    {
      confined: (out) => {
        assert.equal(readlinkSync(join(out, 'abs')), '/etc');
        assert.equal(readlinkSync(join(out, 'rel')), '../../outside');
        assert.equal(readFileSync(join(out, 'real'), 'utf8'), 'real file\n');
        assert.ok(lstatSync(join(out, 'canary')).isSymbolicLink());
      },
    },
  ],
  ['loop', { code: 'COPY_SOURCE_INVALID' }],
  ['deep', { code: 'PATH_TOO_DEEP' }],
  ['add-dotdot', { code: 'ADD_ARCHIVE_INVALID' }],
  [
    'add-symlink-etc',
    {
      confined: (out) => {
        assert.match(readFileSync(join(out, 'etc', 'passwd'), 'utf8'), /owned/);
        assert.equal(readlinkSync(join(out, 'evil')), '/etc');
      },
    },
  ],
];

async function outcome(run: () => Promise<void>): Promise<string> {
  try {
    await run();
    return 'confined';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : `untyped: ${(e as Error).message}`;
  }
}

describe('malicious corpus', { skip: !isRoot && 'needs root (devices, owners)' }, () => {
  const t = mkdtempSync(join(tmpdir(), 'kiln-malicious-'));
  const spill = SpillDir.create(t);
  let before_: string;
  before(() => {
    writeFileSync(join(t, 'canary'), 'canary: must never change\n');
    const r = spawnSync('python3', [join(CORPUS, 'generate.py'), '--out', join(t, 'gen'), '--test-time', '--canary', join(t, 'canary')]);
    assert.equal(r.status, 0, r.stderr?.toString());
    before_ = snapshot(t);
  });
  after(() => {
    spill.dispose();
    // GNU rm walks the 10,000-deep context with openat; a path-based remover would hit PATH_MAX.
    spawnSync('rm', ['-rf', t]);
  });

  test('the committed layers are what the generator writes', () => {
    const committed = readdirSync(join(CORPUS, 'layers')).sort();
    assert.equal(committed.length, 19);
    for (const name of committed) assert.equal(sha(join(CORPUS, 'layers', name)), sha(join(t, 'gen', 'layers', name)), name);
  });

  for (const [i, [name, expect, limits]] of LAYERS.entries()) {
    const want = 'code' in expect ? expect.code : 'confined';
    test(`layer ${name}${limits ? ` ${JSON.stringify(limits)}` : ''}: ${want}`, async () => {
      const file = name === 'bomb.tar.gz' ? join(t, 'gen', 'layers', name) : join(CORPUS, 'layers', name);
      const root = join(t, `root-${i}`);
      const got = await outcome(async () => {
        const tree = await applyLayer(emptyDir(), createReadStream(file), { spill, ...(limits ? { limits } : {}) });
        await materialize(tree, root);
      });
      assert.equal(got, want);
      if ('confined' in expect) expect.confined(root);
      assert.equal(snapshot(t), before_, 'something outside the root changed');
    });
  }

  for (const [name, expect] of CONTEXTS) {
    const want = 'code' in expect ? expect.code : 'confined';
    test(`context ${name}: ${want}`, async () => {
      const out = join(t, `out-${name}`);
      const got = await outcome(async () => {
        await build({ contextDir: join(t, 'gen', 'contexts', name), home: join(t, 'home'), epoch: 0, outputs: [{ type: 'local', dest: out }] });
      });
      assert.equal(got, want);
      if ('confined' in expect) expect.confined(out);
      else assert.equal(existsSync(out), false, 'a refused build writes no output');
      assert.equal(snapshot(t), before_, 'something outside the context changed');
    });
  }

  test('nothing was created in the temp folder but roots, outputs, the store and the spill directory', () => {
    const made = readdirSync(t).filter((n) => !/^(root-\d+|out-[a-z-]+|home|gen|canary|kiln-spill-.*)$/.test(n));
    assert.deepEqual(made, []);
  });
});
