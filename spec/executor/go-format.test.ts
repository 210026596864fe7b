/**
 * Go fmt renderings used in history strings. Expectations from Go's
 * documented behaviour: strconv.Quote (escapes \a \b \f \n \r \t \v, \xNN
 * for other control bytes, \uNNNN / \UNNNNNNNN for non-printable runes;
 * printable = letters, marks, numbers, punctuation, symbols, ASCII space),
 * fmt's %q/%v of []string, and time.Duration.String() (examples from the
 * time package documentation and its tests).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { goQuote } from '../../lib/dockerfile/index.ts';
import { goDuration, goQuoteSlice, goSlice } from '../../lib/executor/go-format.ts';

describe('goQuote (strconv.Quote)', () => {
  const cases: [string, string][] = [
    ['', '""'],
    ['abc', '"abc"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['\n\t\r\x07\b\f\v', '"\\n\\t\\r\\a\\b\\f\\v"'],
    ['\x00\x1b\x7f', '"\\x00\\x1b\\x7f"'],
    ['ünï ☺ 😀 ½', '"ünï ☺ 😀 ½"'],
    ['\u00a0', '"\\u00a0"'],
    ['\u200b', '"\\u200b"'],
    ['\ue000', '"\\ue000"'],
    ['\u{10ffff}', '"\\U0010ffff"'],
    ["it's $HOME `x`", '"it\'s $HOME `x`"'],
  ];
  for (const [input, want] of cases) test(JSON.stringify(input), () => assert.equal(goQuote(input), want));
});

describe('goQuoteSlice / goSlice (%q and %v of []string)', () => {
  test('%q', () => {
    assert.equal(goQuoteSlice(['/bin/sh', '-c', 'echo "x"']), '["/bin/sh" "-c" "echo \\"x\\""]');
    assert.equal(goQuoteSlice([]), '[]');
  });
  test('%v', () => {
    assert.equal(goSlice(['/bin/bash', '-c']), '[/bin/bash -c]');
    assert.equal(goSlice(['a b', '']), '[a b ]');
    assert.equal(goSlice([]), '[]');
  });
});

describe('goDuration (time.Duration.String)', () => {
  const S = 1e9;
  const cases: [number, string][] = [
    [0, '0s'],
    [1, '1ns'],
    [999, '999ns'],
    [1000, '1µs'],
    [1100, '1.1µs'],
    [2_200_000, '2.2ms'],
    [100e6, '100ms'],
    [123_456_789, '123.456789ms'],
    [S, '1s'],
    [1.5 * S, '1.5s'],
    [S + 1, '1.000000001s'],
    [60 * S, '1m0s'],
    [90 * S, '1m30s'],
    [3600 * S, '1h0m0s'],
    [(72 * 3600 + 3 * 60 + 0.5) * S, '72h3m0.5s'],
    [(2 * 3600 + 45 * 60) * S, '2h45m0s'],
    [-1.5 * 3600 * S, '-1h30m0s'],
    [-1, '-1ns'],
  ];
  for (const [ns, want] of cases) test(`${ns}ns`, () => assert.equal(goDuration(ns), want));
});
