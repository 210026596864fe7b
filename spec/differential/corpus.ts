/**
 * Differential kit: the corpus under testdata/differential/. One folder per
 * case: a Dockerfile, its context files, a README whose first line says what
 * the case covers, and an optional case.json with the build's flags
 * (`{"target": "mid", "buildArgs": {"B": "x"}}`; `{{registry}}` in a build
 * arg stands for the kit registry's host:port). Cases named `run-*` use
 * RUN (issue 7); the others need no RUN (issue 6).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOP } from '../helpers/kiln.ts';

export const CORPUS_DIR = join(TOP, 'testdata', 'differential');

export interface DiffCase {
  name: string;
  /** The build context (the case's folder, used in place: both builders only read it). */
  dir: string;
  dockerfile: string;
  /** The README's first line. */
  covers: string;
  target?: string;
  buildArgs: Readonly<Record<string, string>>;
}

interface CaseFlags {
  target?: string;
  buildArgs?: Record<string, string>;
}

function readCase(name: string): DiffCase {
  const dir = join(CORPUS_DIR, name);
  const flagsPath = join(dir, 'case.json');
  const flags: CaseFlags = existsSync(flagsPath) ? (JSON.parse(readFileSync(flagsPath, 'utf8')) as CaseFlags) : {};
  const covers = readFileSync(join(dir, 'README'), 'utf8').split('\n')[0]!.trim();
  if (covers === '') throw new Error(`testdata/differential/${name}/README: the first line must say what the case covers`);
  return {
    name,
    dir,
    dockerfile: readFileSync(join(dir, 'Dockerfile'), 'utf8'),
    covers,
    ...(flags.target === undefined ? {} : { target: flags.target }),
    buildArgs: flags.buildArgs ?? {},
  };
}

/** The cases whose RUN-ness is `withRun`, sorted by name. */
export function loadCorpus(withRun: boolean): DiffCase[] {
  return readdirSync(CORPUS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith('run-') === withRun)
    .map((e) => readCase(e.name))
    .sort((a, b) => a.name.localeCompare(b.name));
}
