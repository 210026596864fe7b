/**
 * Symbolic --chmod (BuildKit accepts `mode.Parse` syntax since dockerfile 1.14):
 * applied to each copied entry's own mode, X only for directories (or
 * entries already executable). The directories COPY creates stay 0755:
 * fsutil's Copy gives MkdirAll only an octal mode (`ci.Mode`), never the
 * symbolic `ModeStr`. Expectations are what GNU chmod gives for the same
 * spec on the same modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIt, describeFs } from './build-kit.ts';

const FILES = {
  'a.txt': { text: 'A', mode: 0o644 },
  'b.txt': { text: 'B', mode: 0o600 },
  'tool': { text: '#!/bin/sh\n', mode: 0o750 },
  d: { dir: true as const, mode: 0o700 },
  'd/f': { text: 'f', mode: 0o640 },
};

test('u+x,go-w on files; the directory COPY creates is 0755', async () => {
  const b = await buildIt(FILES, 'FROM scratch\nCOPY --chmod=u+x,go-w a.txt b.txt /x/\n');
  assert.deepEqual(describeFs(b.fs, 'x'), ['x: dir 0755 0:0', 'x/a.txt: file 0744 0:0 "A"', 'x/b.txt: file 0700 0:0 "B"']);
});

test('a=rX gives directories and executables x, other files none; a created destination stays 0755', async () => {
  const b = await buildIt(FILES, 'FROM scratch\nCOPY --chmod=a=rX d tool /y/\nCOPY --chmod=a=rX d /z/d/\n');
  assert.deepEqual(describeFs(b.fs, 'y'), ['y: dir 0755 0:0', 'y/f: file 0444 0:0 "f"', 'y/tool: file 0555 0:0 "#!/bin/sh\\n"']);
  assert.deepEqual(describeFs(b.fs, 'z'), ['z: dir 0755 0:0', 'z/d: dir 0755 0:0', 'z/d/f: file 0444 0:0 "f"']);
});

test('g=u copies the user bits', async () => {
  const b = await buildIt(FILES, 'FROM scratch\nCOPY --chmod=g=u b.txt /z/\n');
  assert.equal(describeFs(b.fs, 'z/b.txt')[0], 'z/b.txt: file 0660 0:0 "B"');
});
