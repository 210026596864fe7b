/**
 * resolveOwner: `user[:group]` as BuildKit's file operations resolve it
 * (client/llb/fileop.go WithUser + parseUID: `root` and decimal numbers are
 * ids; solver/llbsolver/ops/user_linux.go readUser: an id alone sets uid and
 * gid, a name takes uid and primary gid from /etc/passwd, a group name its
 * gid from /etc/group; the files are read inside the stage's root, symlinks
 * confined). kiln stops on a name it cannot find where BuildKit uses 0.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveOwner } from '../../lib/executor/users.ts';
import { dir, file, link } from '../vfs/tree-kit.ts';

const LOC = { file: 'Dockerfile', line: 3 };
const tree = dir({
  etc: dir({
    passwd: file('# comment\nroot:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n\ndup:x:7:7::/:/bin/sh\ndup:x:8:8::/:/bin/sh\n'),
    group: link('/usr/share/group'),
  }),
  usr: dir({ share: dir({ group: file('root:x:0:\nstaff:x:50:app\napp:x:1002:\n') }) }),
});

describe('resolveOwner', () => {
  const cases: [string, [number, number] | string][] = [
    ['0', [0, 0]],
    ['1000', [1000, 1000]],
    ['1001', [1001, 1001]],
    ['1000:50', [1000, 50]],
    ['1000:staff', [1000, 50]],
    ['root', [0, 0]],
    ['root:root', [0, 0]],
    ['app', [1001, 1002]],
    ['app:0', [1001, 0]],
    ['app:staff', [1001, 50]],
    ['app:root', [1001, 0]],
    ['dup', [7, 7]],
    ['ghost', 'USER_UNKNOWN'],
    ['app:ghosts', 'GROUP_UNKNOWN'],
  ];
  for (const [spec, want] of cases) {
    test(spec, () => {
      try {
        const o = resolveOwner(tree, spec, LOC);
        assert.deepEqual([o.uid, o.gid], want);
      } catch (e) {
        assert.equal(typeof want, 'string', (e as Error).message);
        assert.equal((e as { code?: string }).code, want);
        assert.deepEqual((e as { location?: unknown }).location, LOC);
      }
    });
  }

  test('ids need no /etc/passwd or /etc/group', () => {
    const empty = dir();
    assert.deepEqual(resolveOwner(empty, '5:6', LOC), { uid: 5, gid: 6 });
    assert.deepEqual(resolveOwner(empty, 'root:root', LOC), { uid: 0, gid: 0 });
    assert.throws(() => resolveOwner(empty, 'app', LOC), { code: 'USER_UNKNOWN' });
  });
});
