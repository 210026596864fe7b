import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coversScopes, formatScope, mergeScopes, parseScope, repositoryScope, scopesKey } from '../../lib/registry/scope.ts';
import { TokenCache } from '../../lib/registry/token-cache.ts';
import { redact, safeUrl } from '../../lib/registry/redact.ts';
import { HostPolicy, isLoopback } from '../../lib/registry/host-policy.ts';

test('scopes parse and print; names may hold colons (a host with a port)', () => {
  const s = parseScope('repository:127.0.0.1:5000/app:push,pull');
  assert.deepEqual(s, { type: 'repository', name: '127.0.0.1:5000/app', actions: ['pull', 'push'] });
  assert.equal(formatScope(s!), 'repository:127.0.0.1:5000/app:pull,push');
  assert.equal(parseScope('nonsense'), undefined);
});

test('merging unites the actions per resource; the key is order-independent', () => {
  const a = [repositoryScope('b', ['pull']), repositoryScope('a', ['push']), repositoryScope('a', ['pull'])];
  assert.deepEqual(mergeScopes(a).map(formatScope), ['repository:a:pull,push', 'repository:b:pull']);
  assert.equal(scopesKey(a), scopesKey([...a].reverse()));
});

test('a token covers the scopes it was granted and no more', () => {
  const granted = [repositoryScope('dst', ['pull', 'push']), repositoryScope('src', ['pull'])];
  assert.ok(coversScopes(granted, [repositoryScope('dst', ['push'])]));
  assert.ok(coversScopes(granted, [repositoryScope('src', ['pull']), repositoryScope('dst', ['pull'])]));
  assert.ok(!coversScopes(granted, [repositoryScope('src', ['push'])]));
  assert.ok(!coversScopes(granted, [repositoryScope('other', ['pull'])]));
  assert.ok(coversScopes(granted, []));
});

test('the token cache serves covering tokens until shortly before expiry', () => {
  let now = 1_000_000;
  const cache = new TokenCache(() => now);
  const pullPush = [repositoryScope('a', ['pull', 'push'])];
  cache.put('srv', 'T1', pullPush, 300);
  assert.equal(cache.find('srv', [repositoryScope('a', ['pull'])]), 'T1');
  assert.equal(cache.find('other-server', [repositoryScope('a', ['pull'])]), undefined);
  assert.equal(cache.find('srv', [repositoryScope('b', ['pull'])]), undefined);
  // 300 s lifetime, 30 s leeway (a tenth, capped at 30 s)
  now += 269_000;
  assert.equal(cache.find('srv', pullPush), 'T1');
  now += 2_000;
  assert.equal(cache.find('srv', pullPush), undefined);
  cache.put('srv', 'T2', pullPush, 60);
  cache.drop('srv', 'T2');
  assert.equal(cache.find('srv', pullPush), undefined);
});

test('redact removes credentials from free text', () => {
  const text = 'Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln and Basic YWxpY2U6c2VjcmV0 password=hunter2 {"token":"abc123"} ?X-Amz-Signature=deadbeef&x=1';
  const out = redact(text);
  for (const secret of ['eyJhbGciOiJFUzI1NiJ9', 'YWxpY2U6c2VjcmV0', 'hunter2', 'abc123', 'deadbeef']) assert.ok(!out.includes(secret), `${secret} in ${out}`);
  assert.match(out, /password=\[REDACTED\]/);
});

test('safeUrl keeps scheme, host and path only', () => {
  assert.equal(safeUrl('https://u:p@s3.example/bucket/blob?X-Amz-Signature=abc#f'), 'https://s3.example/bucket/blob');
});

test('plain http: loopback and insecure registries only', () => {
  const policy = new HostPolicy(['registry.internal', 'other.example:5000']);
  for (const h of ['localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', 'registry.internal:443', 'other.example:5000']) assert.ok(policy.allowsHttp(h), h);
  for (const h of ['example.com', 'other.example:5001', '128.0.0.1', '10.0.0.1:5000', 'localhost.example.com']) assert.ok(!policy.allowsHttp(h), h);
  assert.ok(policy.isInsecure('registry.internal:5000'));
  assert.ok(!policy.isInsecure('localhost:5000'));
  assert.ok(isLoopback('::1'));
});
