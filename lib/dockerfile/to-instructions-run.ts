/** RUN [--mount=…]… [--network=…] [--security=…] [--device=…]… command */
import type { AstNode } from './ast.ts';
import { goQuote } from './ast.ts';
import { InstructionError } from './errors.ts';
import type { RunInstruction } from './instructions.ts';
import { base, command } from './to-instructions-common.ts';
import { parseFlags } from './to-instructions-flags.ts';

/**
 * BuildKit's parseRun plus its flag hooks. Mount and device specs stay raw
 * strings (parsed after expansion by the executor); the one mount rule
 * BuildKit enforces before expansion is applied here: `from=` may not use
 * variables.
 */
export function toRun(node: AstNode, heredocs: AstNode['heredocs']): RunInstruction {
  const flags = parseFlags(node.flags, { mount: 'strings', network: 'string', security: 'string', device: 'strings' });
  const network = flags.used.get('network');
  if (network !== undefined && network !== 'default' && network !== 'none' && network !== 'host') {
    throw new InstructionError('FLAG_INVALID', `invalid network mode ${goQuote(network)}`);
  }
  const security = flags.used.get('security');
  if (security !== undefined && security !== 'sandbox' && security !== 'insecure') {
    throw new InstructionError('FLAG_INVALID', `security ${goQuote(security)} is not valid`);
  }
  const mounts = flags.lists.get('mount') ?? [];
  mounts.forEach(checkMountFrom);
  return {
    kind: 'RUN',
    ...base(node),
    command: command(node.args, node.json),
    mounts,
    ...(network === undefined ? {} : { network }),
    ...(security === undefined ? {} : { security }),
    devices: flags.lists.get('device') ?? [],
    heredocs: [...heredocs],
  };
}

function checkMountFrom(spec: string): void {
  for (const field of csvFields(spec)) {
    const eq = field.indexOf('=');
    if (eq === -1 || field.slice(0, eq).toLowerCase() !== 'from') continue;
    const value = field.slice(eq + 1);
    const dollar = value.indexOf('$');
    if (dollar !== -1 && dollar !== value.length - 1) {
      throw new InstructionError('FLAG_INVALID', "'from' doesn't support variable expansion, define alias stage instead");
    }
  }
}

/** One CSV record: `,`-separated, `"…"` fields with `""` for a quote. */
function csvFields(record: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const ch = record[i];
    if (quoted && ch === '"' && record[i + 1] === '"') {
      field += '"';
      i++;
    } else if (ch === '"' && (quoted || field === '')) quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields;
}
