#!/usr/bin/env node
// The `kiln` command: cli/main.ts, loaded as cli/load-main.js says (a
// bundle made on first run, else tsx's loader; transpile-only either way:
// type-checking is `make check`).
import { loadMain } from './load-main.js';

const main = await loadMain();
process.exitCode = await main(process.argv.slice(2));
