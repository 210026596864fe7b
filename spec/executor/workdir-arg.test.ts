/**
 * WORKDIR and ARG through the real build(). Expectations from BuildKit's
 * convert.go: dispatchWorkdir (path relative to the previous WORKDIR, a
 * Mkdir 0755 with parents owned by USER through llb.WithUser, a layer for
 * every WORKDIR but `/`, history "WORKDIR <path>"), dispatchArg (build arg,
 * else the expanded default, else the global ARG's value; history
 * "ARG k=v"), and the integration tests testGlobalArgErrors,
 * testArgDefaultExpansion, testMultiArgs, testQuotedMetaArgs and
 * testDefaultEnvWithArgs (frontend/dockerfile/dockerfile_args_test.go).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildError, buildIt, type Built, describeFs, EPOCH } from './build-kit.ts';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\nstaff:x:50:\napp:x:1002:\n';
const FILES = { passwd: PASSWD, group: GROUP };

describe('WORKDIR', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      FILES,
      `FROM scratch AS base
COPY passwd group /etc/
FROM base
WORKDIR /a/b
WORKDIR c
WORKDIR /a
WORKDIR /
WORKDIR ..
USER app
WORKDIR /home/app/work
USER 1234
WORKDIR /num
USER app:staff
WORKDIR grp
ENV where=/from/env
USER root
WORKDIR $where
`,
    );
  });

  test('directories are 0755, owned by the USER of the moment (as BuildKit\'s FileOp resolves it), with the epoch as mtime', () => {
    assert.deepEqual(
      describeFs(b.fs).filter((l) => !l.startsWith('etc')),
      [
        'a: dir 0755 0:0',
        'a/b: dir 0755 0:0',
        'a/b/c: dir 0755 0:0',
        'from: dir 0755 0:0',
        'from/env: dir 0755 0:0',
        'home: dir 0755 1001:1002',
        'home/app: dir 0755 1001:1002',
        'home/app/work: dir 0755 1001:1002',
        'num: dir 0755 1234:1234',
        'num/grp: dir 0755 1001:50',
      ],
    );
    assert.equal(b.fs['a/b/c']?.mtime, EPOCH);
  });

  test('the config keeps the last working directory, relative ones joined onto the previous', () => {
    assert.equal(b.config.WorkingDir, '/from/env');
  });

  test('history, and which steps made layers', () => {
    const own = b.history.slice(1).map((h) => [h.created_by, h.empty_layer ?? false]);
    assert.deepEqual(own, [
      ['WORKDIR /a/b', false],
      ['WORKDIR /a/b/c', false],
      ['WORKDIR /a', false],
      ['WORKDIR /', true],
      ['WORKDIR /', true],
      ['USER app', true],
      ['WORKDIR /home/app/work', false],
      ['USER 1234', true],
      ['WORKDIR /num', false],
      ['USER app:staff', true],
      ['WORKDIR /num/grp', false],
      ['ENV where=/from/env', true],
      ['USER root', true],
      ['WORKDIR /from/env', false],
    ]);
    assert.equal(b.layers.length, 1 + 7);
  });

  test('a WORKDIR that exists still makes a layer, an empty one', () => {
    assert.deepEqual(b.layers[3], []);
  });

  test('a layer holds only what the step created', () => {
    assert.deepEqual(b.layers[1]!.map((e) => e.name), ['a', 'a/b']);
    assert.deepEqual(b.layers[2]!.map((e) => e.name), ['a', 'a/b', 'a/b/c']);
  });

  test('a WORKDIR below a file, or for a user missing from /etc/passwd, fails with its line', async () => {
    const f = await buildError(FILES, 'FROM scratch\nCOPY passwd /f\nWORKDIR /f/x\n');
    assert.deepEqual([f.code, f.line], ['WORKDIR_INVALID', 3]);
    const u = await buildError(FILES, 'FROM scratch\nUSER ghost\nWORKDIR /x\n');
    assert.deepEqual([u.code, u.line], ['USER_UNKNOWN', 3]);
  });
});

describe('ARG', () => {
  let b: Built;
  before(async () => {
    b = await buildIt(
      {},
      `ARG g1=global g2
ARG g3=\${g1}-3
ARG hidden=h
FROM scratch
ARG g1
ARG g2
ARG g3
ARG local=\${g1}/x withbuild=default
ARG unset
ARG empty=
LABEL g1=$g1 g2=$g2 g3=$g3 local=$local withbuild=$withbuild unset=\${unset:-none} empty=[$empty] hidden=\${hidden:-notvisible} undeclared=\${undeclared:-no}
ARG g1=changed
LABEL again=$g1
`,
      { buildArgs: { g2: 'fromcli', withbuild: 'cli', undeclared: 'x' } },
    );
  });

  test('values: build arg, else expanded default, else the global value; globals only where re-declared', () => {
    assert.deepEqual(b.config.Labels, {
      g1: 'global',
      g2: 'fromcli',
      g3: 'global-3',
      local: 'global/x',
      withbuild: 'cli',
      unset: 'none',
      empty: '[]',
      hidden: 'notvisible',
      undeclared: 'no',
      again: 'changed',
    });
  });

  test('history: "ARG k=v" with the value used, "ARG k" when there is none', () => {
    assert.deepEqual(
      b.history.filter((h) => h.created_by?.startsWith('ARG')).map((h) => h.created_by),
      ['ARG g1=global', 'ARG g2=fromcli', 'ARG g3=global-3', 'ARG local=global/x withbuild=cli', 'ARG unset', 'ARG empty=', 'ARG g1=changed'],
    );
  });

  test('ARGs never reach the config Env', () => {
    assert.deepEqual(b.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  test('global ARGs name the base of FROM (testMultiArgs, testQuotedMetaArgs)', async () => {
    const got = await buildIt({}, 'ARG a1="foo bar" a2=scr\nARG a3="$a2-foo"\nFROM ${a2}atch AS build\nARG a3 a4="123 456" a1\nLABEL out="$a1:$a3:$a4"\n');
    assert.deepEqual(got.config.Labels, { out: 'foo bar:scr-foo:123 456' });
  });

  const defaults: [string, Record<string, string>, string[]][] = [
    ['nil', {}, ['my_arg=my_arg=def_val', 'my_trimmed_arg=my_arg=d']],
    ['empty', { my_arg: '' }, ['my_arg=my_arg=def_val', 'my_trimmed_arg=my_arg=d']],
    ['override', { my_arg: 'override' }, ['my_arg=my_arg=override', 'my_trimmed_arg=my_arg=ov']],
  ];
  for (const [name, args, env] of defaults) {
    test(`an ENV overriding an ARG of the same name (testDefaultEnvWithArgs: ${name})`, async () => {
      const got = await buildIt({}, 'FROM scratch\nARG my_arg\nENV my_arg "my_arg=${my_arg:-def_val}"\nENV my_trimmed_arg "${my_arg%%e*}"\n', { buildArgs: args });
      assert.deepEqual(got.config.Env?.slice(1), env);
    });
  }

  test('a default that fails to expand is an error only when it is used (testArgDefaultExpansion, testGlobalArgErrors)', async () => {
    const stage = 'FROM scratch\nARG FOO\nARG BAR=${FOO:?"foo missing"}\n';
    assert.notEqual((await buildError({}, stage)).code, 'none');
    assert.equal((await buildError({}, stage, { buildArgs: { FOO: '123' } })).code, 'none');
    assert.equal((await buildError({}, stage, { buildArgs: { BAR: '123' } })).code, 'none');
    const global = 'ARG FOO=${FOO:?"custom error"}\nFROM scratch\n';
    const err = await buildError({}, global);
    assert.notEqual(err.code, 'none');
    assert.match(err.message, /custom error/);
    assert.equal((await buildError({}, global, { buildArgs: { FOO: 'bar' } })).code, 'none');
  });
});
