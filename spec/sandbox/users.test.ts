/**
 * USER resolution for RUN (BuildKit's GetUser / moby GetExecUser), the
 * generated /etc/hosts and /etc/resolv.conf, and the command's environment:
 * pure functions, expected values written from BuildKit's rules.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirNode } from '../../lib/vfs/index.ts';
import { hostsFile, resolvConf, resolveRunUser, runEnv, type SandboxError } from '../../lib/sandbox/index.ts';
import { bytesFile, dirNode } from './busybox-kit.ts';

const etc = (passwd?: string, group?: string): DirNode =>
  dirNode({ etc: dirNode({ ...(passwd === undefined ? {} : { passwd: bytesFile(passwd) }), ...(group === undefined ? {} : { group: bytesFile(group) }) }) });

const TREE = etc(
  'root:x:0:0:root:/root:/bin/sh\n# comment\nuser:x:1000:1000:User:/home/user:/bin/sh\nsvc:x:500:600::/srv:/bin/false\n',
  'root:x:0:\nuser:x:1000:\nextra:x:2000:user,svc\nstaff:x:50:svc\n',
);

describe('resolveRunUser', () => {
  const cases: [string, number, number, number[], string][] = [
    ['', 0, 0, [0], '/root'],
    ['root', 0, 0, [0], '/root'],
    ['user', 1000, 1000, [1000, 2000], '/home/user'],
    ['1000', 1000, 1000, [1000, 2000], '/home/user'],
    ['svc', 500, 600, [600, 2000, 50], '/srv'],
    // uid:gid both numeric: no lookup, no supplementary groups
    ['1000:1000', 1000, 1000, [1000], '/home/user'],
    ['user:extra', 1000, 2000, [2000], '/home/user'],
    ['user:3000', 1000, 3000, [3000], '/home/user'],
    ['4242', 4242, 0, [0], '/'],
    ['4242:7', 4242, 7, [7], '/'],
  ];
  for (const [spec, uid, gid, groups, home] of cases) {
    test(`USER ${JSON.stringify(spec)} → ${uid}:${gid} [${groups}] ${home}`, () => {
      assert.deepEqual(resolveRunUser(TREE, spec), { uid, gid, additionalGids: groups, home });
    });
  }

  test('unknown names are USER_UNKNOWN / GROUP_UNKNOWN', () => {
    assert.throws(() => resolveRunUser(TREE, 'nobody'), (e: SandboxError) => e.code === 'USER_UNKNOWN');
    assert.throws(() => resolveRunUser(TREE, 'user:nogroup'), (e: SandboxError) => e.code === 'GROUP_UNKNOWN');
  });

  test('without /etc/passwd only numbers work', () => {
    const bare = dirNode({});
    assert.deepEqual(resolveRunUser(bare, '0'), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
    assert.deepEqual(resolveRunUser(bare, '123'), { uid: 123, gid: 0, additionalGids: [0], home: '/' });
    assert.throws(() => resolveRunUser(bare, 'root'), (e: SandboxError) => e.code === 'USER_UNKNOWN');
  });
});

describe('generated files and environment', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-etc-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('/etc/hosts as BuildKit writes it', () => {
    assert.equal(hostsFile('buildkitsandbox'), '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    assert.equal(hostsFile('h', [{ host: 'a.example', ip: '192.0.2.1' }]), '127.0.0.1\tlocalhost h\n::1\tlocalhost ip6-localhost ip6-loopback\n192.0.2.1\ta.example\n');
  });

  test('resolv.conf: host network keeps the host file, none drops loopback resolvers', () => {
    const f = join(tmp, 'resolv.conf');
    writeFileSync(f, 'search example.org\nnameserver 127.0.0.53\noptions edns0\n');
    assert.equal(resolvConf('default', f), 'search example.org\nnameserver 127.0.0.53\noptions edns0\n');
    assert.equal(resolvConf('none', f), 'search example.org\noptions edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n');
    writeFileSync(f, 'nameserver 10.0.0.2\nnameserver ::1\n');
    assert.equal(resolvConf('none', f), 'nameserver 10.0.0.2\n');
    assert.equal(resolvConf('host', join(tmp, 'missing')), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n');
  });

  test('env: last value of a key wins, entries without = are dropped, PATH and HOME defaulted', () => {
    const user = { uid: 1000, gid: 1000, additionalGids: [1000] };
    const env = runEnv(TREE, { argv: ['x'], env: ['A=1', 'NOVALUE', 'A=2', 'E='], cwd: '/', user });
    assert.deepEqual(env, { A: '2', E: '', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/home/user' });
    assert.deepEqual(runEnv(TREE, { argv: ['x'], env: ['PATH=/p', 'HOME=/h'], cwd: '/', user }), { PATH: '/p', HOME: '/h' });
  });
});
