import type { Peer } from './peers.ts';
import type { TargetResult } from './targets.ts';

/** What every section gets from run.ts. */
export interface BenchEnv {
  /** Path of cli/kiln.js. */
  kilnCli: string;
  /** Scratch folder for this bench run (removed at the end). */
  work: string;
  /** The generated build context and its size. */
  context: { dir: string; files: number; bytes: number };
  peers: ReadonlyMap<string, Peer>;
  log: (s: string) => void;
}

/** A section's output: its tables in markdown, and the commands it timed, as run. */
export interface SectionResult {
  markdown: string;
  commands: string[];
  /** Issue 8's targets this section measures, for the summary at the top of the report. */
  targets?: TargetResult[];
}

/** A command line for the report, quoted the way a shell would need it. */
export function shellLine(argv: readonly string[], env: Record<string, string> = {}): string {
  const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [...Object.entries(env).map(([k, v]) => `${k}=${q(v)}`), ...argv.map(q)].join(' ');
}
