/** The token server's pure parts: scope parsing, grants, and the libtrust key id (checked with openssl + python). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_ACCESS, grantAccess, libtrustKeyId, parseScope } from '../helpers/token-server.ts';

describe('token access rules', () => {
  it('parses scopes, including names with a port and typed classes', () => {
    assert.deepEqual(parseScope('repository:alice/app:pull,push'), { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository:localhost:5000/app:pull'), { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] });
    assert.deepEqual(parseScope('repository(plugin):vieux/sshfs:pull'), { type: 'repository', name: 'vieux/sshfs', actions: ['pull'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.equal(parseScope('repository:nothing'), undefined);
    assert.equal(parseScope('garbage'), undefined);
  });

  it('grants the intersection of requested and allowed actions, merging repeated scopes', () => {
    const rules = [
      { account: 'bob', name: 'bob/*', actions: ['pull', 'push'] },
      { account: 'bob', name: '*', actions: ['pull'] },
    ];
    assert.deepEqual(grantAccess(rules, 'bob', ['repository:alice/x:pull,push', 'repository:bob/x:push', 'repository:bob/x:pull']), [
      { type: 'repository', name: 'alice/x', actions: ['pull'] },
      { type: 'repository', name: 'bob/x', actions: ['push', 'pull'] },
    ]);
    assert.deepEqual(grantAccess(rules, 'bob', ['repository:bobby/x:push']), [], 'bob/* does not match bobby/x');
    assert.deepEqual(grantAccess(rules, 'alice', ['repository:bob/x:pull']), []);
    assert.deepEqual(grantAccess(rules, null, ['repository:bob/x:pull']), []);
  });

  it('by default lets users do anything and anonymous clients pull', () => {
    assert.deepEqual(grantAccess(DEFAULT_ACCESS, 'carol', ['repository:a/b:pull,push,delete', 'registry:catalog:*']), [
      { type: 'repository', name: 'a/b', actions: ['pull', 'push', 'delete'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.deepEqual(grantAccess(DEFAULT_ACCESS, null, ['repository:a/b:pull,push', 'registry:catalog:*']), [
      { type: 'repository', name: 'a/b', actions: ['pull'] },
    ]);
  });

  it('names keys the way libtrust does (SHA-256 of the DER SPKI, 240 bits, base32, groups of 4)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-kid-'));
    try {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = join(dir, 'pub.pem');
      writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
      const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pem, '-outform', 'DER']);
      const expected = execFileSync('python3', ['-c', [
        'import sys, hashlib, base64',
        'k = base64.b32encode(hashlib.sha256(sys.stdin.buffer.read()).digest()[:30]).decode().rstrip("=")',
        'print(":".join(k[i:i+4] for i in range(0, len(k), 4)))',
      ].join('\n')], { input: der, encoding: 'utf8' }).trim();
      assert.equal(libtrustKeyId(publicKey), expected);
      assert.match(expected, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
