/** `kiln … | head`: a reader that goes away early ends kiln quietly (exit 0, no stack trace), as any Unix tool. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { KILN } from '../helpers/kiln.ts';

test('kiln --help into a pipe closed before it writes: exit 0, nothing on stderr', async () => {
  const child = spawn(process.execPath, [KILN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(stderr, '');
  assert.equal(status, 0);
});
