#!/usr/bin/env node
// The `kiln` command: cli/main.ts, loaded as cli/load-main.js says (a
// bundle made on first run, else tsx's loader; transpile-only either way:
// type-checking is `make check`).
import { loadMain } from './load-main.js';

// A reader that went away (`kiln images | head`) ends the command quietly, as for any Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const main = await loadMain();
process.exitCode = await main(process.argv.slice(2));
