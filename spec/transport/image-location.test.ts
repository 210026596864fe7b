import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KilnError } from '../../lib/errors.ts';
import { formatLocation, parseLocation } from '../../lib/transport/index.ts';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KilnError, String(err));
    return err.code;
  }
  assert.fail('expected a failure');
}

describe('parseLocation', () => {
  test('docker:// names a registry image with docker defaults', () => {
    const loc = parseLocation('docker://nginx');
    assert.equal(loc.kind, 'registry');
    assert.deepEqual(loc.kind === 'registry' && { ...loc.ref }, { registry: 'docker.io', repository: 'library/nginx', tag: 'latest', digest: undefined });
    const withPort = parseLocation('docker://127.0.0.1:5000/a/b:1');
    assert.equal(withPort.kind === 'registry' && withPort.ref.registry, '127.0.0.1:5000');
    assert.equal(formatLocation(withPort), 'docker://127.0.0.1:5000/a/b:1');
  });

  test('oci: and oci-archive: split the path at the first colon, as skopeo', () => {
    assert.deepEqual(parseLocation('oci:out/layout'), { kind: 'oci', dir: 'out/layout', tag: undefined });
    assert.deepEqual(parseLocation('oci:/x/y:v1'), { kind: 'oci', dir: '/x/y', tag: 'v1' });
    assert.deepEqual(parseLocation('oci:/x:docker.io/library/a:1'), { kind: 'oci', dir: '/x', tag: 'docker.io/library/a:1' });
    assert.deepEqual(parseLocation('oci-archive:a.tar:latest'), { kind: 'oci-archive', file: 'a.tar', tag: 'latest' });
  });

  test('docker-archive: takes a reference or a position', () => {
    const byRef = parseLocation('docker-archive:a.tar:busybox:1');
    assert.equal(byRef.kind, 'docker-archive');
    assert.equal(byRef.kind === 'docker-archive' && byRef.ref?.repository, 'library/busybox');
    assert.equal(formatLocation(byRef), 'docker-archive:a.tar:docker.io/library/busybox:1');
    assert.deepEqual(parseLocation('docker-archive:a.tar:@2'), { kind: 'docker-archive', file: 'a.tar', ref: undefined, index: 2 });
    assert.deepEqual(parseLocation('docker-archive:a.tar'), { kind: 'docker-archive', file: 'a.tar', ref: undefined, index: undefined });
  });

  test('anything else is a name or ID in the local store', () => {
    assert.deepEqual(parseLocation('localhost:5000/app:1'), { kind: 'local', name: 'localhost:5000/app:1' });
    assert.deepEqual(parseLocation('0123456789ab'), { kind: 'local', name: '0123456789ab' });
  });

  test('bad locations are refused with a code', () => {
    assert.equal(code(() => parseLocation('')), 'LOCATION_INVALID');
    assert.equal(code(() => parseLocation('docker://')), 'LOCATION_INVALID');
    assert.equal(code(() => parseLocation('docker://UPPER/Case')), 'REF_INVALID');
    assert.equal(code(() => parseLocation('oci:')), 'LOCATION_INVALID');
    assert.equal(code(() => parseLocation('oci:dir:')), 'LOCATION_INVALID');
    assert.equal(code(() => parseLocation('docker-archive:a.tar:@x')), 'LOCATION_INVALID');
    assert.equal(code(() => parseLocation('docker-archive:a.tar:a@sha256:' + '0'.repeat(64))), 'LOCATION_INVALID');
    assert.equal(code(() => parseLocation('s3://bucket/x')), 'LOCATION_INVALID');
  });
});
