import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { canonicalJson, canonicalJsonBytes } from '../../lib/oci/index.ts';

/** Python's own canonical form of a JSON text: an independent implementation. */
function pythonCanonical(jsonText: string): string {
  const script = 'import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), sort_keys=True, separators=(",", ":"), ensure_ascii=False))';
  return execFileSync('python3', ['-c', script], { input: jsonText, encoding: 'utf8' });
}

const sample = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  layers: [{ size: 32, digest: 'sha256:ab', annotations: { z: '1', a: '2', 'org.opencontainers.image.title': 'x' } }],
  config: { Env: ['PATH=/bin', 'Q="quoted" \\ back\tslash\n'], Cmd: null, ArgsEscaped: false, Labels: {} },
  unicode: { 'é': 'ü', '中': '文', B: '\u0001\u007f/', A: 0.5, Z: -3 },
  empty: [],
};

describe('canonicalJson', () => {
  it('gives the same bytes as Python json.dumps(sort_keys, compact separators)', () => {
    const ours = canonicalJson(sample);
    assert.equal(ours, pythonCanonical(JSON.stringify(sample)));
  });

  it('sorts keys at every depth and writes no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: true } }), '{"a":{"c":true,"d":[{"x":2,"y":1}]},"b":1}');
    assert.ok(!/[\s]/.test(canonicalJson({ b: [1, 2], a: { c: null } })));
  });

  it('orders keys by UTF-16 code units (U+1F600 sorts before U+FB01), not by code point', () => {
    // UTF-16: U+1F600 is D83D DE00 and D83D < FB01. By code point FB01 < 1F600.
    assert.equal(canonicalJson({ '\uFB01': 1, '\u{1F600}': 2 }), '{"\u{1F600}":2,"\uFB01":1}');
  });

  it('round-trips through JSON.parse and is stable on re-encoding', () => {
    const text = canonicalJson(sample);
    assert.deepEqual(JSON.parse(text), sample);
    assert.equal(canonicalJson(JSON.parse(text)), text);
  });

  it('drops undefined members and writes undefined array items as null, like JSON.stringify', () => {
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
    assert.equal(canonicalJson([1, undefined]), '[1,null]');
    assert.equal(canonicalJson([1, undefined]), JSON.stringify([1, undefined]));
  });

  it('rejects values JSON cannot hold exactly', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, { a: Number.NEGATIVE_INFINITY }, [10n], { f: () => 1 }]) {
      assert.throws(() => canonicalJson(bad), TypeError);
    }
  });

  it('canonicalJsonBytes is the UTF-8 encoding of canonicalJson', () => {
    const bytes = canonicalJsonBytes({ k: 'é' });
    assert.deepEqual([...bytes], [0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xc3, 0xa9, 0x22, 0x7d]);
  });
});
