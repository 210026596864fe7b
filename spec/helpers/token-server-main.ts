/**
 * Child-process entry of the kit's token server: `node --import tsx
 * token-server-main.ts STATE_DIR`. Prints `listening PORT` once ready and
 * exits when its stdin closes (the test process ended, however it ended).
 * Run as a child so that tests may drive clients with spawnSync without
 * blocking the server that has to answer them.
 */
import { serveTokens } from './token-server-http.ts';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: token-server-main.ts STATE_DIR\n');
  process.exit(2);
}
const { port } = await serveTokens(dir);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.stdout.write(`listening ${port}\n`);
