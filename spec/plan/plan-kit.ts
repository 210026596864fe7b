/** Test kit for the planner: the real parser, instruction converter and shell lexer in front of planBuild. */
import { parseDockerfile, ShellLexer, toInstructions } from '../../lib/dockerfile/index.ts';
import type { Platform } from '../../lib/oci/index.ts';
import { type Plan, planBuild, type PlanOptions } from '../../lib/plan/index.ts';

export const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
export const ARM64: Platform = { os: 'linux', architecture: 'arm64' };

export interface KitOptions extends Partial<Omit<PlanOptions, 'buildArgs' | 'file'>> {
  buildArgs?: Record<string, string>;
}

/** Plans `text` as file `Dockerfile`: build platform linux/amd64, target platform the same unless given. */
export function plan(text: string, opts: KitOptions = {}): Plan {
  const parsed = parseDockerfile(text, 'Dockerfile');
  const lexer = new ShellLexer(parsed.escapeToken);
  const { buildArgs, ...rest } = opts;
  return planBuild(toInstructions(parsed, 'Dockerfile'), {
    file: 'Dockerfile',
    buildArgs: new Map(Object.entries(buildArgs ?? {})),
    targetPlatform: AMD64,
    buildPlatform: AMD64,
    expand: (w, env) => lexer.processWord(w, env),
    lines: parsed.lines,
    ...rest,
  });
}

export interface Failure {
  code: string;
  name?: string;
  message: string;
  line?: number;
  column?: number;
  fields?: Readonly<Record<string, unknown>>;
}

/** The error `f` throws, reduced for assertions; `code: 'none'` when it returns. */
export function failure(f: () => unknown): Failure {
  try {
    f();
  } catch (e) {
    const err = e as { code?: string; name?: string; message: string; location?: { line: number; column?: number }; fields?: Record<string, unknown> };
    return {
      code: err.code ?? 'uncoded',
      name: err.name,
      message: err.message,
      ...(err.location ? { line: err.location.line } : {}),
      ...(err.location?.column !== undefined ? { column: err.location.column } : {}),
      ...(err.fields ? { fields: err.fields } : {}),
    };
  }
  return { code: 'none', message: '' };
}
