/**
 * RUN behaviour in the sandbox, on every backend this machine has: the
 * command's environment, network, exit status and output, and the mounts
 * (secrets, caches, binds, tmpfs), each checked from inside the sandbox by
 * what the command prints and from outside by the captured tree and the
 * host's files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DirNode, getNode, SpillDir } from '../../lib/vfs/index.ts';
import { RootfsSession, type RunSpec, type SandboxError } from '../../lib/sandbox/index.ts';
import { backends, busyboxTree, bytesFile, dirNode } from './busybox-kit.ts';

const ROOT = { uid: 0, gid: 0, additionalGids: [0] };

for (const backend of backends()) {
  describe(`RUN (${backend})`, () => {
    let session: RootfsSession;
    const spill = SpillDir.create();
    const tmp = mkdtempSync(join(tmpdir(), 'kiln-run-test-'));
    before(async () => {
      session = await RootfsSession.create(await busyboxTree(), { backend, spill });
    });
    after(() => {
      session?.dispose();
      spill.dispose();
      rmSync(tmp, { recursive: true, force: true });
    });

    /** Runs argv and returns its stdout (stderr is appended to the assertion message on failure). */
    async function out(argv: string[], more: Partial<RunSpec> = {}): Promise<string> {
      const chunks: Buffer[] = [];
      await session.run({ argv, env: [], cwd: '/', user: ROOT, onStdout: (c) => chunks.push(c), ...more });
      await session.capture();
      return Buffer.concat(chunks).toString('utf8');
    }

    test('exec form runs without a shell, with exactly the given env, BuildKit default PATH and HOME', async () => {
      const env = (await out(['env'], { env: ['A=1', 'B=two words'] })).split('\n').filter(Boolean).sort();
      // bwrap also exports PWD (the working directory it changes to)
      assert.deepEqual(env.filter((l) => !l.startsWith('PWD=')), ['A=1', 'B=two words', 'HOME=/root', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    });

    test('a PATH in the env is used to find the command', async () => {
      assert.equal(await out(['echo', 'found'], { env: ['PATH=/bin'] }), 'found\n');
      await assert.rejects(out(['echo', 'x'], { env: ['PATH=/nowhere'] }), (e: SandboxError) => e.code === 'RUN_FAILED');
    });

    test('hostname, /etc/hosts with extra hosts', async () => {
      const text = await out(['/bin/sh', '-c', 'hostname; cat /etc/hosts'], { hostname: 'builder', extraHosts: [{ host: 'db', ip: '10.1.2.3' }] });
      assert.equal(text, 'builder\n127.0.0.1\tlocalhost builder\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tdb\n');
    });

    test('network none has only the loopback interface, up; default shares the host network', async () => {
      const ifaces = (s: string): string[] => s.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
      const none = ifaces(await out(['cat', '/proc/net/dev'], { network: 'none' }));
      assert.deepEqual(none, ['lo']);
      const host = ifaces(readFileSync('/proc/net/dev', 'utf8'));
      assert.deepEqual(ifaces(await out(['cat', '/proc/net/dev'], { network: 'default' })), host);
      if (backend === 'bwrap') assert.match(await out(['/bin/sh', '-c', 'ip addr show lo'], { network: 'none' }), /127\.0\.0\.1/);
    });

    test('exit codes and output: RUN_FAILED with the code and the last lines, streams kept apart', async () => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const spec: RunSpec = { argv: ['/bin/sh', '-c', 'echo to-out; echo to-err >&2; exit 3'], env: [], cwd: '/', user: ROOT, onStdout: (c) => stdout.push(c), onStderr: (c) => stderr.push(c) };
      await assert.rejects(session.run(spec), (e: SandboxError) => {
        assert.equal(e.code, 'RUN_FAILED');
        assert.equal(e.fields['exitCode'], 3);
        assert.match(String(e.fields['tail']), /to-out/);
        assert.match(String(e.fields['tail']), /to-err/);
        return true;
      });
      assert.equal(Buffer.concat(stdout).toString(), 'to-out\n');
      assert.equal(Buffer.concat(stderr).toString(), 'to-err\n');
      const r = await session.run({ ...spec, onStdout: undefined, onStderr: undefined }, { check: false });
      assert.equal(r.exitCode, 3);
      await session.capture();
    });

    test('an aborted run is RUN_SIGNALED and leaves nothing running', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const marker = backend === 'bwrap' ? '3001' : '3002';
      await assert.rejects(session.run({ argv: ['/bin/sh', '-c', `sleep ${marker} & sleep ${marker}`], env: [], cwd: '/', user: ROOT, signal: ac.signal }), (e: SandboxError) => e.code === 'RUN_SIGNALED');
      await session.capture();
      let left = '';
      for (let i = 0; i < 40; i++) {
        left = spawnSync('pgrep', ['-f', `^sleep ${marker}$`], { encoding: 'utf8' }).stdout.trim();
        if (left === '') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(left, '', 'sandboxed processes survived the abort');
    });

    test('a secret is a 0400 file at its target during the run and never in the tree', async () => {
      const before = session.tree;
      const text = await out(['/bin/sh', '-c', 'stat -c %a:%u /run/secrets/token; cat /run/secrets/token'], {
        mounts: [{ type: 'secret', target: '/run/secrets/token', data: Buffer.from('s3cr3t') }],
      });
      assert.equal(text, '400:0\ns3cr3t');
      assert.equal(session.tree, before);
      assert.equal(getNode(session.tree, ['run']), undefined);
    });

    test('a cache mount persists across runs on the host and is not captured', async () => {
      const cache = mkdtempSync(join(tmp, 'cache-'));
      const mounts = [{ type: 'cache' as const, target: '/root/.cache/x', hostDir: cache }];
      await out(['/bin/sh', '-c', 'echo one >> /root/.cache/x/log'], { mounts });
      const text = await out(['/bin/sh', '-c', 'echo two >> /root/.cache/x/log; cat /root/.cache/x/log'], { mounts });
      assert.equal(text, 'one\ntwo\n');
      assert.equal(readFileSync(join(cache, 'log'), 'utf8'), 'one\ntwo\n');
      const rootDir = getNode(session.tree, ['root']) as DirNode;
      assert.equal(rootDir.children.size, 0);
    });

    test('a bind mount is read-only unless rw, and rw writes are discarded', async () => {
      const source = { kind: 'tree' as const, node: dirNode({ f: bytesFile('from a stage\n') }) };
      const ro = await out(['/bin/sh', '-c', 'cat /src/f; touch /src/new 2>/dev/null && echo writable || echo read-only'], { mounts: [{ type: 'bind', target: '/src', source, readonly: true }] });
      assert.equal(ro, 'from a stage\nread-only\n');
      const hostSrc = mkdtempSync(join(tmp, 'bind-'));
      writeFileSync(join(hostSrc, 'f'), 'host\n');
      const rw = await out(['/bin/sh', '-c', 'echo changed > /src/f && cat /src/f'], { mounts: [{ type: 'bind', target: '/src', source: { kind: 'host', path: hostSrc }, readonly: false }] });
      assert.equal(rw, 'changed\n');
      assert.equal(readFileSync(join(hostSrc, 'f'), 'utf8'), 'host\n');
      assert.equal(getNode(session.tree, ['src']), undefined);
    });

    test('a tmpfs mount is writable by anyone and empty afterwards', async () => {
      const user = { uid: 1000, gid: 1000, additionalGids: [1000] };
      const text = await out(['/bin/sh', '-c', 'echo x > /scratch/f && cat /scratch/f'], { user, mounts: [{ type: 'tmpfs', target: '/scratch', size: 1 << 20 }] });
      assert.equal(text, 'x\n');
      assert.equal(getNode(session.tree, ['scratch']), undefined);
    });

    test('mount targets that are relative or on a file are MOUNT_INVALID', async () => {
      const mount = (target: string): RunSpec => ({ argv: ['true'], env: [], cwd: '/', user: ROOT, mounts: [{ type: 'tmpfs', target }] });
      await assert.rejects(session.run(mount('relative')), (e: SandboxError) => e.code === 'MOUNT_INVALID');
      await assert.rejects(session.run(mount('/etc/passwd')), (e: SandboxError) => e.code === 'MOUNT_INVALID');
      await assert.rejects(session.run(mount('/etc/passwd/below')), (e: SandboxError) => e.code === 'MOUNT_INVALID');
    });
  });
}
