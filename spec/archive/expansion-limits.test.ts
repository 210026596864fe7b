/**
 * The decompression limits of lib/archive: the defaults and the reasoning
 * behind them checked against real compressors (gzip cannot pass 1032:1, so
 * the default 1100:1 never refuses a gzip layer; zstd and bzip2 go far past
 * it), the environment variables, and decompressStream tearing everything
 * down with a typed error naming the layer once a limit is passed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  DEFAULT_EXPANSION_LIMITS, decompressStream, type ExpansionLimits, ExpansionMeter, expansionLimits, formatSize, parseSize,
} from '../../lib/archive/index.ts';
import { type Digest, VerifyingStream } from '../../lib/digest/index.ts';

const MiB = 1 << 20;
const zeros = Buffer.alloc(16 * MiB);
const gz = gzipSync(zeros, { level: 9 });
/** Compressed by the zstd program, as a layer made by other tools would be. */
const zst = spawnSync('zstd', ['-19', '-q', '-c'], { input: zeros, maxBuffer: 64 * MiB }).stdout;

async function drain(s: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of s) n += (chunk as Buffer).length;
  return n;
}

function limits(l: Partial<ExpansionLimits>): ExpansionLimits {
  return { ...DEFAULT_EXPANSION_LIMITS, ...l };
}

describe('expansion limits: the defaults', () => {
  test('32 GiB, 1100:1, checked past 1 GiB', () => {
    assert.deepEqual({ ...DEFAULT_EXPANSION_LIMITS }, { maxBytes: 32 * 1024 ** 3, maxRatio: 1100, ratioGrace: 1024 ** 3 });
  });

  test('gzip at its best (level 9, all zeros) stays under the default ratio; zstd and bzip2 of the same bytes are far over it', () => {
    const bz = spawnSync('bzip2', ['-9', '-c'], { input: zeros, maxBuffer: 64 * MiB }).stdout;
    const ratio = (b: Buffer): number => zeros.length / b.length;
    assert.ok(ratio(gz) > 1000 && ratio(gz) < DEFAULT_EXPANSION_LIMITS.maxRatio, `gzip ${ratio(gz)}:1`);
    assert.ok(ratio(zst) > 10 * DEFAULT_EXPANSION_LIMITS.maxRatio, `zstd ${ratio(zst)}:1`);
    assert.ok(ratio(bz) > 100 * DEFAULT_EXPANSION_LIMITS.maxRatio, `bzip2 ${ratio(bz)}:1`);
  });

  test('with the default limits, 8 GiB out of an input at gzip\'s ceiling passes, the same at zstd\'s ratio stops just past 1 GiB', () => {
    const run = (ratio: number): number => {
      const meter = new ExpansionMeter(DEFAULT_EXPANSION_LIMITS, { kind: 'layer', name: 'x' });
      const step = 64 * MiB;
      try {
        for (let out = 0; out < 8 * 1024 ** 3; out += step) {
          meter.addCompressed(step / ratio);
          meter.addExpanded(step);
        }
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'LAYER_RATIO_EXCEEDED');
        return meter.expanded;
      }
      return -1;
    };
    assert.equal(run(1032), -1);
    assert.equal(run(32_000), 1024 ** 3 + 64 * MiB);
  });
});

describe('expansion limits: the environment', () => {
  test('KILN_MAX_LAYER_SIZE, KILN_MAX_LAYER_RATIO, KILN_LAYER_RATIO_GRACE; overrides win; empty is unset', () => {
    const env = { KILN_MAX_LAYER_SIZE: '512MiB', KILN_MAX_LAYER_RATIO: '0', KILN_LAYER_RATIO_GRACE: '' };
    assert.deepEqual(expansionLimits(undefined, env), { maxBytes: 512 * MiB, maxRatio: 0, ratioGrace: 1024 ** 3 });
    assert.equal(expansionLimits({ maxBytes: 7 }, env).maxBytes, 7);
    assert.deepEqual(expansionLimits(undefined, {}), { ...DEFAULT_EXPANSION_LIMITS });
  });

  test('sizes: bytes or binary units, as docker reads them', () => {
    const cases: [string, number | undefined][] = [
      ['1048576', MiB], ['512M', 512 * MiB], ['512MiB', 512 * MiB], ['512mb', 512 * MiB], ['1.5G', 1.5 * 1024 ** 3], ['2 GiB', 2 * 1024 ** 3], ['1T', 1024 ** 4], ['10k', 10_240],
      ['', undefined], ['lots', undefined], ['-1', undefined], ['1X', undefined], ['1e9', undefined], [`${'9'.repeat(20)}`, undefined],
    ];
    for (const [text, want] of cases) assert.equal(parseSize(text), want, text);
    assert.deepEqual([formatSize(32 * 1024 ** 3), formatSize(1.5 * MiB), formatSize(700)], ['32 GiB', '1.5 MiB', '700 bytes']);
  });

  test('a bad value is LIMIT_INVALID naming the variable', () => {
    for (const env of [{ KILN_MAX_LAYER_SIZE: 'lots' }, { KILN_MAX_LAYER_RATIO: '-3' }, { KILN_LAYER_RATIO_GRACE: '1 parsec' }]) {
      const name = Object.keys(env)[0]!;
      assert.throws(() => expansionLimits(undefined, env), (e: unknown) => (e as { code?: string }).code === 'LIMIT_INVALID' && (e as Error).message.startsWith(`${name}=`));
    }
  });
});

describe('decompressStream enforces the limits', () => {
  test('past maxBytes: LAYER_TOO_LARGE with the limit and its variable; the input is destroyed', async () => {
    const input = Readable.from([gz]);
    const meter = new ExpansionMeter(limits({ maxBytes: 4 * MiB }), { kind: 'layer', name: 'sha256:abc' });
    await assert.rejects(drain(decompressStream(input, { meter })), (e: unknown) => {
      const err = e as { code?: string; message?: string; fields?: Record<string, unknown> };
      assert.equal(err.code, 'LAYER_TOO_LARGE');
      assert.equal(err.message, 'layer sha256:abc is larger than 4 MiB uncompressed (KILN_MAX_LAYER_SIZE=4 MiB sets the limit)');
      assert.deepEqual(err.fields, { limit: 4 * MiB, variable: 'KILN_MAX_LAYER_SIZE', layer: 'sha256:abc' });
      return true;
    });
    assert.ok(input.destroyed);
    assert.ok(meter.expanded > 4 * MiB && meter.expanded <= 5 * MiB, `stopped at ${meter.expanded}`);
  });

  test('zstd (through node:zlib or the zstd program) past the ratio: LAYER_RATIO_EXCEEDED soon after the grace', async () => {
    const meter = new ExpansionMeter(limits({ ratioGrace: 2 * MiB }), { kind: 'layer' });
    await assert.rejects(drain(decompressStream(Readable.from([zst]), { meter })), (e: unknown) => {
      const err = e as { code?: string; message?: string };
      assert.equal(err.code, 'LAYER_RATIO_EXCEEDED');
      assert.match(err.message ?? '', /^a layer expands more than 1100:1 \(.* from .*\), which no gzip stream can: refused as a decompression bomb \(KILN_MAX_LAYER_RATIO=1100, checked past KILN_LAYER_RATIO_GRACE=2 MiB/);
      return true;
    });
    assert.ok(meter.expanded < 3 * MiB, `stopped at ${meter.expanded}`);
  });

  test('gzip of the same zeros passes the same limits, whole', async () => {
    const meter = new ExpansionMeter(limits({ ratioGrace: 2 * MiB }), { kind: 'layer' });
    assert.equal(await drain(decompressStream(Readable.from([gz]), { meter })), zeros.length);
    assert.equal(meter.compressed, gz.length);
  });

  test('a plain tar is counted too (ratio 1); the default meter names a verified input by its digest', async () => {
    const digest = `sha256:${createHash('sha256').update(zeros).digest('hex')}` as Digest;
    const verified = Readable.from([zeros]).pipe(new VerifyingStream({ digest, size: zeros.length }));
    const meter = new ExpansionMeter(limits({ maxBytes: MiB }), { kind: 'layer', name: 'given' });
    await assert.rejects(drain(decompressStream(Readable.from([zeros]), { meter })), { code: 'LAYER_TOO_LARGE' });
    const saved = process.env.KILN_MAX_LAYER_SIZE;
    process.env.KILN_MAX_LAYER_SIZE = '1MiB';
    try {
      await assert.rejects(drain(decompressStream(verified)), (e: unknown) => (e as Error).message.startsWith(`layer ${digest} is larger than 1 MiB`));
      await assert.rejects(drain(decompressStream(Readable.from([gz]), { name: 'sha256:named' })), (e: unknown) => (e as Error).message.startsWith('layer sha256:named is'));
    } finally {
      if (saved === undefined) delete process.env.KILN_MAX_LAYER_SIZE;
      else process.env.KILN_MAX_LAYER_SIZE = saved;
    }
  });

  test('file contents: a header past maxBytes is refused before its body; sparse bytes count in the ratio', () => {
    const meter = new ExpansionMeter(limits({ maxBytes: 10 * MiB, ratioGrace: MiB, maxRatio: 100 }), { kind: 'archive', name: '/ctx/a.tar' });
    meter.reserveContent(9 * MiB);
    assert.throws(() => meter.reserveContent(2 * MiB), { code: 'ARCHIVE_TOO_LARGE', message: /^archive \/ctx\/a\.tar holds more than 10 MiB of file contents/ });
    const sparse = new ExpansionMeter(limits({ ratioGrace: MiB, maxRatio: 100 }), { kind: 'archive' });
    sparse.addCompressed(1000);
    sparse.addExpanded(10_240); // a small tar...
    assert.throws(() => {
      for (let i = 0; i < 64; i++) sparse.addContent(64 * 1024); // ...whose sparse file expands to 4 MiB
    }, { code: 'ARCHIVE_RATIO_EXCEEDED' });
    // a file announced at once does not count in the ratio before its bytes are there
    const big = new ExpansionMeter(limits({ ratioGrace: MiB, maxRatio: 2 }), { kind: 'layer' });
    big.addCompressed(1000);
    big.reserveContent(8 * MiB);
    assert.equal(big.reserved, 8 * MiB);
  });
});
