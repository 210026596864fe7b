#!/usr/bin/env node
// The `kiln` command. kiln is TypeScript run through tsx's loader in
// transpile-only mode: no type-checking at start (that is `make check`).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
