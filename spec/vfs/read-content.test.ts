/** readTreeFile: small files read through the tree (symlinks followed, confined to the root). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readTreeFile } from '../../lib/vfs/index.ts';
import { codeOf, dir, file, link } from './tree-kit.ts';

describe('readTreeFile', () => {
  const root = dir({
    etc: dir({ passwd: file('root:x:0:0::/root:/bin/sh\n'), group: link('../usr/group'), loop: link('loop') }),
    usr: dir({ group: file('root:x:0:\n') }),
    big: file('x'.repeat(100)),
    d: dir(),
  });
  const cases: [string, string | undefined][] = [
    ['/etc/passwd', 'root:x:0:0::/root:/bin/sh\n'],
    ['/etc/group', 'root:x:0:\n'],
    ['/../../etc/passwd', 'root:x:0:0::/root:/bin/sh\n'],
    ['/etc/shadow', undefined],
    ['/d', undefined],
    ['/etc/loop', undefined],
    ['/etc/passwd/x', undefined],
  ];
  for (const [path, want] of cases) {
    test(path, () => assert.equal(readTreeFile(root, path)?.toString('utf8'), want));
  }
  test('a file over the limit is FILE_TOO_LARGE', () => {
    assert.equal(codeOf(() => readTreeFile(root, '/big', 99)), 'FILE_TOO_LARGE');
    assert.equal(readTreeFile(root, '/big', 100)?.length, 100);
  });
});
