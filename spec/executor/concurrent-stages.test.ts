/**
 * Independent stages build at the same time (issue 6): a stage starts as
 * soon as the stages it needs are built, seen in the order of the build's
 * events; a failing stage stops the build with its own error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuildProgress } from '../../lib/build.ts';
import { buildError, buildIt } from './build-kit.ts';

const DOCKERFILE = `FROM scratch AS a
COPY a1 /a1
COPY a2 /a2
FROM scratch AS b
COPY b1 /b1
COPY b2 /b2
FROM scratch AS c
COPY --from=a /a1 /a2 /
FROM scratch
COPY --from=b /b1 /
COPY --from=c /a1 /a2 /
`;
const FILES = { a1: 'a1', a2: 'a2', b1: 'b1', b2: 'b2' };

/** The index in `events` of the first event matching. */
function at(events: readonly BuildProgress[], pred: (e: BuildProgress) => boolean): number {
  const i = events.findIndex(pred);
  assert.notEqual(i, -1);
  return i;
}

test('independent stages interleave; a stage waits for the stages it copies from', async () => {
  const events: BuildProgress[] = [];
  const built = await buildIt(FILES, DOCKERFILE, { onEvent: (e) => events.push(e) });
  const steps = new Map<number, string>();
  for (const e of events) if (e.kind === 'step') steps.set(e.id, `${e.stageName} ${e.step}`);
  const start = (s: string): number => at(events, (e) => e.kind === 'step' && `${e.stageName} ${e.step}` === s);
  const end = (s: string): number => at(events, (e) => e.kind === 'step-done' && steps.get(e.id) === s);
  assert.ok(start('b 1') < end('a 2'), 'b starts before a is done');
  assert.ok(start('c 1') > end('a 2'), 'c starts after a, which it copies from');
  assert.ok(start('stage-3 1') > end('b 2') && start('stage-3 1') > end('c 1'), 'the target starts after b and c');
  assert.deepEqual(Object.keys(built.fs).filter((p) => !p.endsWith('/')).sort(), ['a1', 'a2', 'b1']);
});

test('a failing stage fails the build with its error; stages that need it never start', async () => {
  const events: BuildProgress[] = [];
  const err = await buildError({ a1: 'a1', b1: 'b1', b2: 'b2' }, DOCKERFILE, { onEvent: (e) => events.push(e) });
  assert.equal(err.code, 'COPY_SOURCE_NOT_FOUND');
  assert.equal(err.line, 3);
  assert.ok(!events.some((e) => e.kind === 'step' && (e.stageName === 'c' || e.stageName === 'stage-3')));
});
