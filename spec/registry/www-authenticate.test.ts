import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate } from '../../lib/registry/www-authenticate.ts';

test('Docker Hub style Bearer challenge', () => {
  const got = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"');
  assert.deepEqual(got, [{
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
  }]);
});

test('several challenges in one value, and commas inside quoted values', () => {
  const got = parseWwwAuthenticate('Bearer realm="http://a/token", service="svc", scope="repository:x:pull,push", Basic realm="reg"');
  assert.deepEqual(got, [
    { scheme: 'bearer', params: { realm: 'http://a/token', service: 'svc', scope: 'repository:x:pull,push' } },
    { scheme: 'basic', params: { realm: 'reg' } },
  ]);
});

test('escaped quotes and backslashes in quoted strings', () => {
  const got = parseWwwAuthenticate('Basic realm="my \\"quoted\\" realm \\\\ here"');
  assert.equal(got[0]?.params.realm, 'my "quoted" realm \\ here');
});

test('scheme and parameter names are case-insensitive; values keep their case', () => {
  const got = parseWwwAuthenticate('BEARER Realm="https://X/Token",SERVICE=Reg,Error="insufficient_scope"');
  assert.deepEqual(got, [{ scheme: 'bearer', params: { realm: 'https://X/Token', service: 'Reg', error: 'insufficient_scope' } }]);
});

test('unquoted token values and spaces around "="', () => {
  const got = parseWwwAuthenticate('Bearer realm = "https://t/token" , service = registry.example.com');
  assert.deepEqual(got[0]?.params, { realm: 'https://t/token', service: 'registry.example.com' });
});

test('several header values, and challenges without parameters', () => {
  const got = parseWwwAuthenticate(['Negotiate', 'Basic realm="r"', 'Bearer realm="x"']);
  assert.deepEqual(got.map((c) => c.scheme), ['negotiate', 'basic', 'bearer']);
});

test('nothing or garbage gives no challenge and never throws', () => {
  assert.deepEqual(parseWwwAuthenticate(undefined), []);
  assert.deepEqual(parseWwwAuthenticate(''), []);
  assert.doesNotThrow(() => parseWwwAuthenticate('=,,"unterminated'));
  const unterminated = parseWwwAuthenticate('Basic realm="open');
  assert.equal(unterminated[0]?.params.realm, 'open');
});
