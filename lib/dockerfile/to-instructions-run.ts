/** RUN [--mount=…]… [--network=…] [--security=…] [--device=…]… command */
import type { AstNode } from './ast.ts';
import { goQuote } from './ast.ts';
import { InstructionError } from './errors.ts';
import type { RunInstruction } from './instructions.ts';
import { checkRunMountSyntax, readRunMount } from './run-mount.ts';
import type { RunMountSpec } from './run-mount.ts';
import { base, command, isStaticWord } from './to-instructions-common.ts';
import type { ConvertContext } from './to-instructions-common.ts';
import { flagAnchor, parseFlags } from './to-instructions-flags.ts';

/**
 * BuildKit's parseRun plus its flag hooks. Each mount spec gets BuildKit's
 * parse-time checks (CSV syntax, no variables in `from=`); a spec that needs
 * no expansion is also fully parsed now, so its errors (unknown key, bad
 * type, bad sharing, …) surface at parse time with the flag's column.
 */
export function toRun(node: AstNode, heredocs: AstNode['heredocs'], ctx: ConvertContext): RunInstruction {
  const flags = parseFlags(node.flags, { mount: 'strings', network: 'string', security: 'string', device: 'strings' });
  const network = flags.used.get('network');
  if (network !== undefined && network !== 'default' && network !== 'none' && network !== 'host') {
    throw new InstructionError('FLAG_INVALID', `invalid network mode ${goQuote(network)}`, flagAnchor('network'));
  }
  const security = flags.used.get('security');
  if (security !== undefined && security !== 'sandbox' && security !== 'insecure') {
    throw new InstructionError('FLAG_INVALID', `security ${goQuote(security)} is not valid`, flagAnchor('security'));
  }
  const mounts = flags.lists.get('mount') ?? [];
  return {
    kind: 'RUN',
    ...base(node),
    command: command(node.args, node.json),
    mounts,
    mountSpecs: mounts.map((raw, i) => mountSpec(raw, ctx, i)),
    ...(network === undefined ? {} : { network }),
    ...(security === undefined ? {} : { security }),
    devices: flags.lists.get('device') ?? [],
    heredocs: [...heredocs],
  };
}

/** Thrown by the parse-time expander when a value needs real expansion. */
class NeedsExpansion extends Error {}

function mountSpec(raw: string, ctx: ConvertContext, index: number): RunMountSpec {
  try {
    const { from } = checkRunMountSyntax(raw);
    const spec: RunMountSpec = { raw, ...(from === undefined ? {} : { from }) };
    try {
      return { ...spec, mount: readRunMount(raw, (value) => staticOrThrow(value, ctx)) };
    } catch (err) {
      if (err instanceof NeedsExpansion) return spec;
      throw err;
    }
  } catch (err) {
    throw err instanceof InstructionError ? err.at(flagAnchor('mount', index)) : err;
  }
}

function staticOrThrow(value: string, ctx: ConvertContext): string {
  let fixed: boolean;
  try {
    fixed = isStaticWord(value, ctx.escape);
  } catch {
    fixed = false; // a malformed expansion fails later, with the build's variables, as in BuildKit
  }
  if (!fixed) throw new NeedsExpansion();
  return value;
}
