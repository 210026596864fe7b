import { BINFMT_PLATFORMS, type Emulation, emulationFor, formatBinfmtPlatform, installBinfmt, type InstallReport, readBinfmt, uninstallBinfmt } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { table } from './format.ts';
import type { Io } from './main.ts';

/**
 * `kiln binfmt [--install|--uninstall] [--format table|json]`: which
 * platforms RUN can execute here (natively or through a binfmt_misc
 * emulator), after registering qemu-user-static's handlers or removing
 * them. `--format json` prints tonistiigi/binfmt's shape,
 * `{"supported":[…],"emulators":[…]}` (plus `installed`: installBinfmt's report,
 * or `removed`: the handlers' names).
 */
export async function binfmtCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseArgs(argv, [{ name: 'install' }, { name: 'uninstall' }, { name: 'format', value: true }]);
  if (args.positional.length > 0) throw new UsageError(`accepts no arguments, got ${args.positional.length}`);
  const format = args.values.get('format')?.[0] ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`invalid --format ${JSON.stringify(format)}: table or json`);
  if (args.flags.has('install') && args.flags.has('uninstall')) throw new UsageError('--install and --uninstall cannot be used together');
  const json = format === 'json';
  let installed: InstallReport | undefined;
  let removed: string[] | undefined;
  if (args.flags.has('install')) {
    installed = installBinfmt();
    if (!json) io.out(installLines(installed));
  }
  if (args.flags.has('uninstall')) {
    removed = uninstallBinfmt();
    if (!json) io.out(removed.length === 0 ? 'no qemu-* handler was registered\n' : removed.map((n) => `removed: ${n}\n`).join(''));
  }
  if (installed !== undefined || removed !== undefined) {
    if (!json) io.out('\n');
  }
  const state = readBinfmt();
  const rows = BINFMT_PLATFORMS.map((p) => ({ platform: formatBinfmtPlatform(p), emulation: emulationFor(p, { state }) }));
  if (json) {
    const doc = {
      supported: rows.filter((r) => r.emulation.kind !== 'missing').map((r) => r.platform),
      emulators: state.entries.map((e) => e.name),
      ...(installed === undefined ? {} : { installed }),
      ...(removed === undefined ? {} : { removed }),
    };
    io.out(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  io.out(`${table([['PLATFORM', 'EMULATOR'], ...rows.map((r) => [r.platform, describe(r.emulation)])])}\n`);
  // One line per distinct fix, naming the platforms it is for.
  const fixes = new Map<string, string[]>();
  for (const r of rows) if (r.emulation.kind === 'missing') fixes.set(r.emulation.fix, [...(fixes.get(r.emulation.fix) ?? []), r.platform]);
  for (const [fix, platforms] of fixes) io.out(`\nRUN cannot execute ${platforms.join(', ')} here: ${fix}\n`);
  return 0;
}

function describe(e: Emulation): string {
  switch (e.kind) {
    case 'native':
      return 'native';
    case 'emulated':
      return `${e.entry.interpreter} (${e.entry.name}, flags ${e.entry.flags})`;
    case 'missing':
      return `missing: ${e.reason}`;
  }
}

function installLines(r: InstallReport): string {
  const lines: string[] = [];
  if (r.mounted) lines.push('mounted binfmt_misc');
  if (r.enabled) lines.push('enabled binfmt_misc');
  const already: string[] = [];
  for (const o of r.outcomes) {
    if (o.status === 'skipped') lines.push(`skipped: ${o.name} (${o.reason})`);
    else if (o.status === 'already') already.push(o.name);
    else lines.push(`${o.replaced ? 're-registered' : 'registered'}: ${o.name} (${o.interpreter}, flags ${o.flags}${o.replaced ? `; ${o.replaced}` : ''})`);
  }
  if (already.length > 0) lines.push(`already registered: ${already.join(', ')}`);
  return lines.map((l) => `${l}\n`).join('');
}
