import { type Contender, measureRounds, timeCommand } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { summarize } from './stats.ts';
import { type BenchEnv, type SectionResult, shellLine } from './section.ts';

const PEERS = ['buildah', 'skopeo', 'umoci'] as const;

/**
 * Section 1: how long `kiln --version` takes from exec to exit, next to the
 * peers' `--version` and `node -e 0` (the floor any Node CLI stands on).
 */
export async function benchCliStart(env: BenchEnv, runs: number): Promise<SectionResult> {
  const cmds: [string, string[]][] = [
    ['kiln --version', [process.execPath, env.kilnCli, '--version']],
    ['node -e 0 (floor)', [process.execPath, '-e', '0']],
  ];
  const skipped: Row[] = [];
  for (const p of PEERS) {
    const peer = env.peers.get(p);
    if (peer?.ok) cmds.push([`${p} --version`, [p, '--version']]);
    else skipped.push(skippedRow(`${p} --version`, peer?.ok === false ? peer.reason : 'not probed'));
  }
  const contenders: Contender[] = cmds.map(([name, argv]) => ({ name, run: () => ({ [name]: timeCommand(argv) }) }));
  env.log(`CLI start: ${cmds.length} commands × ${runs} runs`);
  const samples = await measureRounds(contenders, { runs, warmup: 2 });
  const kiln = samples.get('kiln --version');
  const kilnMs = kiln === undefined ? undefined : summarize(kiln.map((s) => s.ms)).median;
  const rows = cmds.map(([name]) => row(name === 'kiln --version' ? `**${name}**` : name, samples.get(name), name === 'kiln --version' || kilnMs === undefined ? {} : { kilnMs }));
  const table = renderTable({ title: `1. CLI start (wall time from spawn to exit, ${runs} runs each)`, rows: [...rows, ...skipped] });
  return { markdown: table, commands: cmds.map(([, argv]) => shellLine(argv)) };
}
