/**
 * RUN --mount specs → typed mounts. Expectations come from BuildKit's
 * integration tests (frontend/dockerfile/dockerfile_mount_test.go,
 * dockerfile_secrets_test.go at 73ed6825: the specs they use and the errors
 * or effects they assert, e.g. tmpfs size=128m is mounted as size=131072k)
 * and from reading commands_runmount.go / convert_secrets.go / convert_ssh.go
 * for defaults and messages. CSV error columns follow Go's encoding/csv.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerfileError, parseDockerfile, parseRunMount, resolveMountTarget, toInstructions } from '../../lib/dockerfile/index.ts';
import type { RunMount } from '../../lib/dockerfile/index.ts';

function mountError(spec: string): string {
  try {
    parseRunMount(spec);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('parseRunMount: types, fields and defaults', () => {
  const cases: [string, RunMount][] = [
    ['target=/context', { type: 'bind', target: '/context', source: '', readonly: true }],
    ['from=build,src=out,target=/out,rw', { type: 'bind', target: '/out', source: 'out', from: 'build', readonly: false }],
    ['source=.,target=/tmp/test,readonly=false', { type: 'bind', target: '/tmp/test', source: '.', readonly: false }],
    ['target=/x,rw=false', { type: 'bind', target: '/x', source: '', readonly: true }],
    ['target=/mytmp,type=tmpfs', { type: 'tmpfs', target: '/mytmp', readonly: false, size: 0 }],
    ['type=tmpfs,target=/dev/shm,size=128m', { type: 'tmpfs', target: '/dev/shm', readonly: false, size: 128 * 1024 * 1024 }],
    ['type=tmpfs,target=/t,size=1.5GiB,ro', { type: 'tmpfs', target: '/t', readonly: true, size: 1.5 * 1024 ** 3 }],
    ['type=tmpfs,target=/t,size=10 kb', { type: 'tmpfs', target: '/t', readonly: false, size: 10240 }],
    ['type=cache,target=/mycache', { type: 'cache', target: '/mycache', source: '', readonly: false, id: '/mycache', sharing: 'shared' }],
    ['type=cache,target=/mycache,uid=1001,gid=1002,mode=0751', {
      type: 'cache', target: '/mycache', source: '', readonly: false, id: '/mycache', sharing: 'shared', mode: 0o751, uid: 1001, gid: 1002,
    }],
    ['type=cache,id=mycache,target=./a//b/../c/,sharing=LOCKED', { type: 'cache', target: './a//b/../c/', source: '', readonly: false, id: 'mycache', sharing: 'locked' }],
    ['type=cache,target=./a//b/../c/', { type: 'cache', target: './a//b/../c/', source: '', readonly: false, id: 'a/c', sharing: 'shared' }],
    ['type=cache,target=/c,from=stage,source=sub', { type: 'cache', target: '/c', source: 'sub', from: 'stage', readonly: false, id: '/c', sharing: 'shared' }],
    ['type=secret,required=false,mode=741,uid=100,gid=102,target=/mysecret', {
      type: 'secret', id: 'mysecret', target: '/mysecret', required: false, mode: 0o741, uid: 100, gid: 102,
    }],
    ['type=secret,required,id=mysecret', { type: 'secret', id: 'mysecret', target: '/run/secrets/mysecret', required: true, mode: 0o400, uid: 0, gid: 0 }],
    ['type=secret,id=mysecret,env=SECRET_ENV', { type: 'secret', id: 'mysecret', env: 'SECRET_ENV', required: false, mode: 0o400, uid: 0, gid: 0 }],
    ['type=secret,id=mysecret,target=/run/secrets/secret,env=SECRET_ENV', {
      type: 'secret', id: 'mysecret', target: '/run/secrets/secret', env: 'SECRET_ENV', required: false, mode: 0o400, uid: 0, gid: 0,
    }],
    ['type=secret,source=a/b.txt', { type: 'secret', id: 'a/b.txt', target: '/run/secrets/b.txt', required: false, mode: 0o400, uid: 0, gid: 0 }],
    ['type=ssh', { type: 'ssh', id: 'default', required: false, mode: 0o600, uid: 0, gid: 0 }],
    ['type=ssh,id=gh,target=/s.sock,required=true,mode=0666', { type: 'ssh', id: 'gh', target: '/s.sock', required: true, mode: 0o666, uid: 0, gid: 0 }],
    ['TYPE=CACHE,Target=/x', { type: 'cache', target: '/x', source: '', readonly: false, id: '/x', sharing: 'shared' }],
    ['"type=bind","target=/a,b"', { type: 'bind', target: '/a,b', source: '', readonly: true }],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.deepEqual(parseRunMount(spec), want));
  }

  it('expands values (not keys or bare words) with the given expander', () => {
    const env = new Map([['MNT_TYPE', 'cache'], ['P', '/cbacba']]);
    const expand = (w: string): string => w.replace(/\$(\w+)/g, (_, n: string) => env.get(n) ?? '');
    assert.deepEqual(parseRunMount('type=$MNT_TYPE,id=x,target=$P', expand), {
      type: 'cache', target: '/cbacba', source: '', readonly: false, id: 'x', sharing: 'shared',
    });
  });
});

describe('parseRunMount: BuildKit\'s errors', () => {
  const cases: [string, string][] = [
    ['typ=tmpfs', "unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)"],
    ['type=tmp', 'unsupported mount type "tmp" (did you mean tmpfs?)'],
    ['type=volume', 'unsupported mount type "volume"'],
    ['type=cache,sharing=privat', 'unsupported sharing value "privat" (did you mean private?)'],
    ['type=bind,sharing=locked', 'invalid cache sharing set for bind mount'],
    ['target=/x,nonsense', "invalid field 'nonsense' must be a key=value pair"],
    ['required,type=secret,id=a', "unexpected key 'required' for mount type 'bind'"],
    ['type=cache,size=1m', "unexpected key 'size' for mount type 'cache'"],
    ['type=tmpfs,size=lots', 'invalid value for size: lots'],
    ['type=tmpfs,size=-1', 'invalid value for size: -1'],
    ['type=tmpfs,size=1x', 'invalid value for size: 1x'],
    ['ro=maybe', 'invalid value for ro: maybe'],
    ['type=cache,mode=0800', 'invalid value 0800 for mode'],
    ['type=cache,uid=-1', 'invalid value -1 for uid'],
    ['type=cache,gid=4294967296', 'invalid value 4294967296 for gid'],
    ['type=bind,mode=0700', 'mode not allowed for "bind" type mounts'],
    ['type=tmpfs,uid=1', 'uid not allowed for "tmpfs" type mounts'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=secret,id=a,from=b', 'secret mount should not have a from'],
    ['type=secret,id=a,sharing=shared', 'secret mount should not define sharing'],
    ['type=secret,id=a,source=b', "both source and id can't be set"],
    ['type=ssh,source=x', 'ssh does not support source'],
    ['', 'failed to parse csv mounts: EOF'],
    ['target=/a"b', 'failed to parse csv mounts: parse error on line 1, column 10: bare " in non-quoted-field'],
    ['"target=/a"x', 'failed to parse csv mounts: parse error on line 1, column 11: extraneous or missing " in quoted-field'],
    ['type=bind,"target=/a', 'failed to parse csv mounts: parse error on line 1, column 12: extraneous or missing " in quoted-field'],
  ];
  for (const [spec, message] of cases) {
    it(JSON.stringify(spec), () => assert.equal(mountError(spec), message));
  }
});

describe('RUN instructions keep raw specs and parse static ones', () => {
  const run = (line: string) => {
    const ins = toInstructions(parseDockerfile(`FROM a\n${line}\n`))[1];
    assert.ok(ins?.kind === 'RUN');
    return ins;
  };
  it('a spec with variables is kept for the executor; from= is known either way', () => {
    const ins = run('RUN --mount=type=$T,from=builder,target=/x --mount=type=tmpfs,target=/t true');
    assert.deepEqual(ins.mounts, ['type=$T,from=builder,target=/x', 'type=tmpfs,target=/t']);
    assert.deepEqual(ins.mountSpecs, [
      { raw: 'type=$T,from=builder,target=/x', from: 'builder' },
      { raw: 'type=tmpfs,target=/t', mount: { type: 'tmpfs', target: '/t', readonly: false, size: 0 } },
    ]);
  });
  it('an error after a variable is left to expansion time (BuildKit checks values after expanding them)', () => {
    assert.deepEqual(run('RUN --mount=target=$X,bogus=1 true').mountSpecs, [{ raw: 'target=$X,bogus=1' }]);
    assert.throws(() => run('RUN --mount=bogus=1,target=$X true'), (err: unknown) => err instanceof DockerfileError && err.code === 'FLAG_INVALID');
  });
});

describe('resolveMountTarget (BuildKit dispatchRunMounts)', () => {
  it('absolute targets as written, relative ones under WORKDIR, the root refused', () => {
    assert.equal(resolveMountTarget('/cache/', '/app'), '/cache/');
    assert.equal(resolveMountTarget('cache/../c', '/app'), '/app/c');
    assert.equal(resolveMountTarget('', '/app'), '/app');
    assert.throws(() => resolveMountTarget('', '/'), (err: unknown) => err instanceof DockerfileError && err.code === 'FLAG_INVALID' && err.message === 'invalid mount target "/"');
    assert.throws(() => resolveMountTarget('/', '/app'), /invalid mount target "\/"/);
  });
  it('parseRunMount errors are KilnErrors located where the caller says', () => {
    assert.throws(() => parseRunMount('type=nope', undefined, { file: 'Dockerfile', line: 3, column: 5 }), (err: unknown) => {
      assert.ok(err instanceof DockerfileError);
      assert.deepEqual([err.code, err.location], ['FLAG_INVALID', { file: 'Dockerfile', line: 3, column: 5 }]);
      return true;
    });
  });
});
