/**
 * COPY --chown, --chmod and heredoc sources. Expectations from BuildKit:
 * client/llb/fileop.go WithUser (`root` and numbers are ids) and
 * solver/llbsolver/ops/user_linux.go readUser (an id alone sets uid and gid;
 * names come from the stage's /etc/passwd and /etc/group), fsutil copy
 * (created parents get the --chmod mode and --chown owner; --chmod applies
 * to directories and files, never to symlinks), convert_copy.go (heredocs
 * are 0644 files, flags in the history text) and the integration tests
 * testCopyChown, testCopyChownCreateDest, testCopyChmod and testCopyHeredoc.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildError, buildIt, type Built, describeFs, type Entry } from './build-kit.ts';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\napp:x:1001:1002::/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\ndaemon:x:1:\nstaff:x:50:\napp:x:1002:\n';
const FILES: Record<string, Entry> = {
  passwd: PASSWD,
  group: GROUP,
  foo: { text: 'foo-contents', mode: 0o600 },
  bar: { text: 'bar-contents', mode: 0o700 },
  d: { dir: true, mode: 0o700 },
  'd/f': 'f',
  'd/sub': { dir: true, mode: 0o750 },
  'd/sub/g': { text: 'g', mode: 0o640 },
  'd/ln': { symlink: 'f' },
};
const BASE = 'FROM scratch AS base\nCOPY passwd group /etc/\nFROM base\n';
const line = (b: Built, path: string) => describeFs(b.fs, path).find((l) => l.startsWith(`${path}:`));

describe('COPY --chown', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      FILES,
      `${BASE}COPY --chown=1000 foo /n1
COPY --chown=1000:50 foo /n2
COPY --chown=app foo /n3
COPY --chown=app:staff foo /n4
COPY --chown=root foo /n5
COPY --chown=daemon:0 foo /n6
COPY --chown=2000:staff d /n7/
COPY --chown=1000:1000 foo /p/q/r
ARG group
ENV owner=1001
COPY --chown=\${owner}:\${group} foo /n8
COPY --chown=root:root foo /n9
`,
      { buildArgs: { group: 'staff' } },
    );
  });
  const want: [string, string][] = [
    ['n1', 'n1: file 0600 1000:1000 "foo-contents"'],
    ['n2', 'n2: file 0600 1000:50 "foo-contents"'],
    ['n3', 'n3: file 0600 1001:1002 "foo-contents"'],
    ['n4', 'n4: file 0600 1001:50 "foo-contents"'],
    ['n5', 'n5: file 0600 0:0 "foo-contents"'],
    ['n6', 'n6: file 0600 1:0 "foo-contents"'],
    ['n7', 'n7: dir 0755 2000:50'],
    ['n7/f', 'n7/f: file 0644 2000:50 "f"'],
    ['n7/sub', 'n7/sub: dir 0750 2000:50'],
    ['n7/sub/g', 'n7/sub/g: file 0640 2000:50 "g"'],
    ['n7/ln', 'n7/ln: symlink 0777 2000:50 -> f'],
    ['p', 'p: dir 0755 1000:1000'],
    ['p/q', 'p/q: dir 0755 1000:1000'],
    ['p/q/r', 'p/q/r: file 0600 1000:1000 "foo-contents"'],
    ['n8', 'n8: file 0600 1001:50 "foo-contents"'],
    ['n9', 'n9: file 0600 0:0 "foo-contents"'],
  ];
  for (const [path, l] of want) test(path, () => assert.equal(line(b, path), l));

  test('history shows --chown as expanded', () => {
    const by = b.history.map((h) => h.created_by);
    assert.ok(by.includes('COPY --chown=1001:staff foo /n8 # buildkit'));
    assert.ok(by.includes('COPY --chown=2000:staff d /n7/ # buildkit'));
  });

  test('a --chown or --chmod that expands to nothing is no flag at all', async () => {
    const got = await buildIt(FILES, 'FROM scratch\nENV empty=""\nCOPY --chown=$empty --chmod=$empty foo /x\n');
    assert.equal(line(got, 'x'), 'x: file 0600 0:0 "foo-contents"');
    assert.equal(got.history.at(-1)?.created_by, 'COPY foo /x # buildkit');
  });

  test('root:root needs no /etc/passwd (ids, not names)', async () => {
    const got = await buildIt(FILES, 'FROM scratch\nCOPY --chown=root:root foo /x\n');
    assert.equal(line(got, 'x'), 'x: file 0600 0:0 "foo-contents"');
  });

  test('an unknown user or group name stops the build with its line', async () => {
    const u = await buildError(FILES, `${BASE}COPY --chown=nobody foo /x\n`);
    assert.deepEqual([u.code, u.line], ['USER_UNKNOWN', 4]);
    const g = await buildError(FILES, `${BASE}COPY --chown=app:nogroup foo /x\n`);
    assert.deepEqual([g.code, g.line], ['GROUP_UNKNOWN', 4]);
  });
});

describe('COPY --chmod (testCopyChmod)', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      FILES,
      `FROM scratch
COPY --chmod=0644 foo /
COPY --chmod=777 bar /baz
COPY --chmod=0 foo /foobis
COPY --chmod=777 foo /parent/foo
COPY --chmod=770 foo /parent/sub/foo
ARG mode
COPY --chmod=\${mode} foo /footer
COPY --chmod=4755 foo /setuid
COPY --chmod=751 d /cd/
`,
      { buildArgs: { mode: '755' } },
    );
  });
  const want: [string, number][] = [
    ['foo', 0o644],
    ['baz', 0o777],
    ['foobis', 0o000],
    ['parent', 0o777],
    ['parent/sub', 0o770],
    ['footer', 0o755],
    ['setuid', 0o4755],
    ['cd', 0o751],
    ['cd/f', 0o751],
    ['cd/sub', 0o751],
    ['cd/sub/g', 0o751],
    ['cd/ln', 0o777],
  ];
  for (const [path, mode] of want) test(`${path} ${mode.toString(8)}`, () => assert.equal(b.fs[path]?.mode.toString(8), mode.toString(8)));

  test('leading zeros are fine as long as the value is at most 07777 (strconv.ParseUint)', async () => {
    const got = await buildIt(FILES, 'FROM scratch\nCOPY --chmod=00640 foo /x\n');
    assert.equal(got.fs['x']?.mode, 0o640);
  });

  test('history shows --chmod as expanded', () => {
    assert.ok(b.history.some((h) => h.created_by === 'COPY --chmod=755 foo /footer # buildkit'));
  });
});

describe('COPY from heredocs', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      {},
      [
        'FROM scratch',
        'ENV name=world',
        'COPY <<EOF /greeting',
        'hello $name "quoted" \'single\' \\$name',
        'EOF',
        "COPY <<'EOF' /raw",
        'hello $name',
        'EOF',
        'COPY <<-EOF /chomped',
        '\t\thello $name',
        '\tbye',
        'EOF',
        'COPY --chmod=755 --chown=7:8 <<EOF /bin/script.sh',
        '#!/bin/sh',
        'EOF',
        'COPY <<one.txt <<two.txt /hd/',
        'first',
        'one.txt',
        'second',
        'two.txt',
        '',
      ].join('\n'),
    );
  });
  const want: [string, string][] = [
    // ExpandRaw: variables expanded, quotes kept as text, backslash escapes
    ['greeting', 'greeting: file 0644 0:0 "hello world \\"quoted\\" \'single\' $name\\n"'],
    ['raw', 'raw: file 0644 0:0 "hello $name\\n"'],
    ['chomped', 'chomped: file 0644 0:0 "hello world\\nbye\\n"'],
    ['bin', 'bin: dir 0755 7:8'],
    ['bin/script.sh', 'bin/script.sh: file 0755 7:8 "#!/bin/sh\\n"'],
    ['hd/one.txt', 'hd/one.txt: file 0644 0:0 "first\\n"'],
    ['hd/two.txt', 'hd/two.txt: file 0644 0:0 "second\\n"'],
  ];
  for (const [path, l] of want) test(path, () => assert.equal(line(b, path), l));

  test('history names each heredoc as <<NAME', () => {
    const by = b.history.map((h) => h.created_by);
    assert.ok(by.includes('COPY <<EOF /greeting # buildkit'));
    assert.ok(by.includes('COPY --chown=7:8 --chmod=755 <<EOF /bin/script.sh # buildkit'), "flags in BuildKit's order: --chown then --chmod");
    assert.ok(by.includes('COPY <<one.txt <<two.txt /hd/ # buildkit'));
  });
});
