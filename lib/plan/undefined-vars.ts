/**
 * BuildKit's UndefinedVar check (dispatch → reportUnmatchedVariables): a
 * stage is walked as the dispatcher would, tracking which ARGs are declared
 * and which variables are set, and every `$VAR` an expanded word references
 * that is neither set nor a declared ARG is reported. Words are the ones
 * BuildKit expands: ENV and LABEL keys and values, COPY/ADD sources, dest,
 * `--chown`, `--chmod` (ADD `--checksum`) and expanding heredocs, WORKDIR,
 * USER, VOLUME, STOPSIGNAL, RUN `--mount` values, and ARG defaults; never
 * RUN/CMD/ENTRYPOINT text, EXPOSE or ONBUILD.
 *
 * A stage built on an image also sees that image's ENV, unknown until it is
 * fetched: its findings are kept as DeferredUndefinedVar and turned into
 * warnings by resolveDeferred once the image config is at hand.
 */
import { type Instruction, type LintWarning, lintWarning, parseRunMount, ShellLexer } from '../dockerfile/index.ts';
import { type ArgScope, type Expand, setVar, stageArgValue } from './args.ts';
import type { SourceText } from './source-text.ts';
import { suggest } from './suggest.ts';

/** BuildKit's default PATH for Linux, present in every stage's environment. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A reference to a variable unset at that point, pending the base image's ENV. */
export interface DeferredUndefinedVar {
  readonly name: string;
  readonly location: LintWarning['location'];
  /** Variables set at that point (oldest first), for "did you mean". */
  readonly known: readonly string[];
}

/** ARGs declared so far and the variables set, as one stage leaves them to a stage built FROM it. */
export interface VarState {
  readonly declared: ReadonlySet<string>;
  readonly env: ReadonlyMap<string, string>;
}

/** The state a stage on scratch or an image starts with (PATH is always set, as BuildKit). */
export function initialVarState(): VarState {
  return { declared: new Set(), env: new Map([['PATH', DEFAULT_PATH]]) };
}

// BuildKit expands heredoc bodies with a fresh `\` lexer that leaves quotes alone.
const HEREDOC_LEXER = new ShellLexer('\\', { skipProcessQuotes: true });

/** Walks one stage's instructions from `start`; returns the end state and the unset references in order. */
export function walkStage(instructions: readonly Instruction[], start: VarState, scope: ArgScope, expand: Expand, src: SourceText): { end: VarState; refs: DeferredUndefinedVar[] } {
  const declared = new Set(start.declared);
  const env = new Map(start.env);
  const refs: DeferredUndefinedVar[] = [];
  for (const ins of instructions) {
    const at = src.at(ins.range);
    const location = { file: at.file, line: at.line, ...(at.column !== undefined ? { column: at.column } : {}) };
    const report = (unmatched: Iterable<string>): void => {
      for (const name of unmatched) if (!declared.has(name)) refs.push({ name, location, known: [...env.keys()] });
    };
    const x = (word: string, e: Expand = expand): string => {
      try {
        const r = e(word, env);
        report(r.unmatched);
        return r.word;
      } catch {
        return ''; // the executor reports expansion errors with the image's ENV at hand
      }
    };
    if (ins.kind === 'ARG') {
      for (const a of ins.args) {
        const value = stageArgValue(scope, a.key, a.value, (w) => x(w));
        declared.add(a.key);
        if (value !== undefined) setVar(env, a.key, value);
      }
    } else if (ins.kind === 'ENV') {
      // every pair sees the variables from before the instruction
      const pairs = ins.pairs.map((p) => [x(p.key), x(p.value)] as const);
      for (const [k, v] of pairs) setVar(env, k, v);
    } else {
      wordsOf(ins, x);
    }
  }
  return { end: { declared, env }, refs };
}

type Expander = (word: string, e?: Expand) => string;

function wordsOf(ins: Instruction, x: Expander): void {
  switch (ins.kind) {
    case 'LABEL':
      for (const p of ins.pairs) x(p.key), x(p.value);
      return;
    case 'COPY':
    case 'ADD':
      if (ins.chown !== undefined) x(ins.chown);
      if (ins.chmod !== undefined) x(ins.chmod);
      if (ins.kind === 'ADD' && ins.checksum !== undefined) x(ins.checksum);
      for (const s of ins.sources) x(s);
      x(ins.dest);
      for (const h of ins.heredocs) if (h.expand) x(h.content, (w, env) => HEREDOC_LEXER.processWord(w, env));
      return;
    case 'WORKDIR':
      x(ins.path);
      return;
    case 'USER':
      x(ins.user);
      return;
    case 'VOLUME':
      for (const p of ins.paths) x(p);
      return;
    case 'STOPSIGNAL':
      x(ins.signal);
      return;
    case 'RUN':
      for (const m of ins.mountSpecs) {
        try {
          parseRunMount(m.raw, (w) => x(w));
        } catch {
          // a bad mount is the executor's error; the values read so far were checked
        }
      }
      return;
    default:
      return;
  }
}

/**
 * Warnings for the references that the environment a stage starts with does
 * not define either: `imageEnv` = the names in the stage's starting config
 * Env (its base image's, or for a stage FROM a stage, that stage's result).
 */
export function resolveDeferred(refs: readonly DeferredUndefinedVar[], imageEnv: Iterable<string>): LintWarning[] {
  const image = [...imageEnv];
  const defined = new Set(image);
  return dedupe(
    refs.filter((r) => !defined.has(r.name)).map((r) => {
      const options = [...image.filter((k) => !r.known.includes(k)), ...r.known];
      return lintWarning('UndefinedVar', r.location, r.name, ...optional(suggest(r.name, options, true)));
    }),
  );
}

function optional(s: string | undefined): string[] {
  return s === undefined ? [] : [s];
}

/** Drops repeats of one warning on one line (`COPY $a $a/`). */
export function dedupe(warnings: readonly LintWarning[]): LintWarning[] {
  const seen = new Set<string>();
  return warnings.filter((w) => {
    const key = `${w.rule}\0${w.location.line}\0${w.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
