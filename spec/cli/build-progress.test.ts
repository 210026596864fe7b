/** The build's progress display: plain lines for CI logs, tty status line redrawn in place, quiet. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuildDisplay } from '../../cli/build-progress.ts';
import type { Digest } from '../../lib/digest/index.ts';
import type { BuildProgress } from '../../lib/index.ts';

const LOC = { file: 'Dockerfile', line: 2 };
const EVENTS: BuildProgress[] = [
  { kind: 'step', id: 1, stage: 0, stageName: 'builder', step: 1, total: 2, text: 'COPY app.go .', location: LOC },
  { kind: 'transfer', direction: 'pull', ref: 'docker.io/library/golang:1.9-alpine', event: { kind: 'blob-start', digest: `sha256:${'a'.repeat(64)}` as Digest, size: 3_400_000, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' } },
  { kind: 'transfer', direction: 'pull', ref: 'docker.io/library/golang:1.9-alpine', event: { kind: 'blob-progress', digest: `sha256:${'a'.repeat(64)}` as Digest, bytes: 1_000_000, size: 3_400_000 } },
  { kind: 'transfer', direction: 'pull', ref: 'docker.io/library/golang:1.9-alpine', event: { kind: 'blob-done', digest: `sha256:${'a'.repeat(64)}` as Digest, size: 3_400_000, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', outcome: 'downloaded' } },
  { kind: 'output', stage: 0, data: Buffer.from('compiling\n') },
  { kind: 'step-done', id: 1, seconds: 0.21, cached: false },
  { kind: 'step', id: 2, stage: 0, stageName: 'builder', step: 2, total: 2, text: 'RUN go build\n  -o app .', location: LOC },
  { kind: 'step-done', id: 2, seconds: 0, cached: true },
  { kind: 'transfer', direction: 'pull', ref: 'docker.io/library/alpine:latest', event: { kind: 'blob-done', digest: `sha256:${'d'.repeat(64)}` as Digest, size: 2100, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', outcome: 'exists' } },
  { kind: 'transfer', direction: 'push', ref: 'reg/app:1', event: { kind: 'blob-done', digest: `sha256:${'b'.repeat(64)}` as Digest, size: 1200, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', outcome: 'mounted' } },
  { kind: 'pushed', ref: 'reg/app:1', digest: `sha256:${'c'.repeat(64)}` as Digest, size: 500 },
];

const PLAIN = [
  '#1 [builder 1/2] COPY app.go .',
  `#pull docker.io/library/golang:1.9-alpine sha256:${'a'.repeat(12)} 3.4MB done`,
  'compiling',
  '#1 DONE 0.2s',
  '#2 [builder 2/2] RUN go build -o app .',
  '#2 CACHED',
  `#pull docker.io/library/alpine:latest sha256:${'d'.repeat(12)} 2.1kB exists`,
  `#push reg/app:1 sha256:${'b'.repeat(12)} 1.2kB mounted`,
  `#push reg/app:1 manifest sha256:${'c'.repeat(64)} done`,
];

test('plain: one line per event, in order, no escape sequences', () => {
  let out = '';
  const d = new BuildDisplay('plain', (s) => (out += s));
  for (const e of EVENTS) d.onEvent(e);
  d.finish();
  assert.equal(out, `${PLAIN.join('\n')}\n`);
});

test('tty: the same lines, under a status line that is cleared before each and at the end', () => {
  let out = '';
  let now = 1000;
  const d = new BuildDisplay('tty', (s) => (out += s), () => now);
  for (const e of EVENTS) {
    now += 500;
    d.onEvent(e);
  }
  d.finish();
  const permanent = out.replace(/\r\x1b\[K[^\n\r]*?(?=\r\x1b\[K)/g, '').replaceAll('\r\x1b[K', '');
  assert.equal(permanent, `${PLAIN.join('\n')}\n`);
  assert.match(out, /\r\x1b\[K\[\+\] Building 1\.5s \(0\/1\)  \[builder 1\/2\] COPY app\.go \. 1\.0s  1MB\/3\.4MB/, 'bytes moving show in the status line');
  assert.ok(out.endsWith('\r\x1b[K'), 'the status line is cleared at the end');
});

test('quiet: nothing', () => {
  let out = '';
  const d = new BuildDisplay('quiet', (s) => (out += s));
  for (const e of EVENTS) d.onEvent(e);
  d.finish();
  assert.equal(out, '');
});
