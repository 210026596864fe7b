/** HEALTHCHECK NONE | [--interval --timeout --start-period --start-interval --retries] CMD … */
import type { AstNode } from './ast.ts';
import { goQuote } from './ast.ts';
import { InstructionError } from './errors.ts';
import type { HealthcheckInstruction } from './instructions.ts';
import { base, command } from './to-instructions-common.ts';
import { flagAnchor, parseFlags, parseGoDuration } from './to-instructions-flags.ts';

const DURATIONS = [
  ['interval', 'interval'],
  ['timeout', 'timeout'],
  ['start-period', 'startPeriod'],
  ['start-interval', 'startInterval'],
] as const;
const MIN_NS = 1e6;

function invalid(message: string): InstructionError {
  return new InstructionError('INSTRUCTION_INVALID', message);
}

/**
 * BuildKit's parseHealthcheck. NONE ignores flags (as BuildKit does); CMD
 * needs a command; durations must be 0 or ≥ 1ms; retries a non-negative int32.
 */
export function toHealthcheck(node: AstNode): HealthcheckInstruction {
  const [type, ...rest] = node.args;
  if (type === undefined) throw invalid('HEALTHCHECK requires at least one argument');
  const upper = type.toUpperCase();
  if (upper === 'NONE') {
    if (rest.length !== 0) throw invalid('HEALTHCHECK NONE takes no arguments');
    return { kind: 'HEALTHCHECK', ...base(node), test: 'NONE' };
  }
  const flags = parseFlags(node.flags, {
    interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string',
  });
  if (upper !== 'CMD') throw invalid(`Unknown type ${goQuote(upper)} in HEALTHCHECK (try CMD)`);
  if (rest.length === 0) throw invalid('Missing command after HEALTHCHECK CMD');
  const options: Partial<Record<(typeof DURATIONS)[number][1] | 'retries', number>> = {};
  for (const [flag, key] of DURATIONS) {
    const ns = duration(flag, flags.used.get(flag) ?? '');
    if (ns !== 0) options[key] = ns;
  }
  const retries = flags.used.get('retries');
  if (retries !== undefined && retries !== '') options.retries = parseRetries(retries);
  return { kind: 'HEALTHCHECK', ...base(node), test: 'CMD', command: command(rest, node.json), ...options };
}

function duration(flag: string, value: string): number {
  if (value === '') return 0;
  let ns: number;
  try {
    ns = parseGoDuration(value);
  } catch (err) {
    throw new InstructionError('FLAG_INVALID', (err as Error).message, flagAnchor(flag));
  }
  if (ns !== 0 && ns < MIN_NS) throw new InstructionError('FLAG_INVALID', `Interval ${goQuote(flag)} cannot be less than 1ms`, flagAnchor(flag));
  return ns;
}

function parseRetries(value: string): number {
  if (!/^[+-]?[0-9]+$/.test(value)) {
    throw new InstructionError('FLAG_INVALID', `strconv.ParseInt: parsing ${goQuote(value)}: invalid syntax`, flagAnchor('retries'));
  }
  const n = Number(value);
  if (n > 2 ** 31 - 1 || n < -(2 ** 31)) {
    throw new InstructionError('FLAG_INVALID', `strconv.ParseInt: parsing ${goQuote(value)}: value out of range`, flagAnchor('retries'));
  }
  if (n < 0) throw new InstructionError('FLAG_INVALID', `--retries cannot be negative (${n})`, flagAnchor('retries'));
  return n;
}
