/**
 * The stage graph, checked before any I/O (BuildKit's
 * validateCircularDependency, allReachableStages and the "needs to be
 * defined before" check of its dispatcher): cycles anywhere are errors;
 * the stages the target reaches through FROM and `--from`; a needed stage
 * may only copy from stages defined before it; levels of stages that can run
 * at the same time.
 */
import type { SourceLocation } from '../errors.ts';
import type { Dependency } from './dependencies.ts';
import { PlanError } from './plan-error.ts';
import type { BaseRef } from './resolve-from.ts';

export interface GraphNode {
  index: number;
  displayName: string;
  line: number;
  base: BaseRef;
  baseLocation: SourceLocation;
  dependencies: readonly Dependency[];
}

interface Edge {
  to: number;
  what: string;
  location: SourceLocation;
}

function edges(n: GraphNode): Edge[] {
  const out: Edge[] = [];
  if (n.base.kind === 'stage') out.push({ to: n.base.index, what: 'FROM', location: n.baseLocation });
  for (const d of n.dependencies) {
    if (d.source.kind === 'stage') out.push({ to: d.source.index, what: d.mount !== undefined ? 'RUN --mount from' : '--from', location: d.location });
  }
  return out;
}

/** Throws STAGE_CYCLE for the first cycle found, walking stages in order (as BuildKit). */
export function checkCycles(nodes: readonly GraphNode[]): void {
  const done = new Set<number>();
  const path: { node: number; edge: Edge }[] = [];
  const onPath = new Set<number>();
  const visit = (i: number): void => {
    if (done.has(i)) return;
    done.add(i);
    onPath.add(i);
    for (const e of edges(nodes[i]!)) {
      path.push({ node: i, edge: e });
      if (onPath.has(e.to)) throw cycleError(nodes, path.slice(path.findIndex((p) => p.node === e.to)));
      visit(e.to);
      path.pop();
    }
    onPath.delete(i);
  };
  for (const n of nodes) visit(n.index);
}

function cycleError(nodes: readonly GraphNode[], cycle: { node: number; edge: Edge }[]): PlanError {
  const steps = cycle.map(({ node, edge }) => `${nodes[node]!.displayName} ${edge.what} ${nodes[edge.to]!.displayName} (line ${edge.location.line})`);
  const first = cycle[0]!;
  return new PlanError('STAGE_CYCLE', `circular dependency detected on stage ${JSON.stringify(nodes[first.node]!.displayName)}: ${steps.join(', ')}`, {
    location: first.edge.location,
    stages: cycle.map((c) => c.node),
  });
}

/** Stages the target needs, the target included. */
export function reachableFrom(nodes: readonly GraphNode[], target: number): Set<number> {
  const seen = new Set<number>();
  const visit = (i: number): void => {
    if (seen.has(i)) return;
    seen.add(i);
    for (const e of edges(nodes[i]!)) visit(e.to);
  };
  visit(target);
  return seen;
}

/** A needed stage may copy only from stages defined before it. Throws STAGE_FORWARD_REFERENCE. */
export function checkForwardReferences(nodes: readonly GraphNode[], reachable: ReadonlySet<number>): void {
  for (const n of nodes) {
    if (!reachable.has(n.index)) continue;
    for (const e of edges(n)) {
      if (e.to <= n.index) continue;
      const later = nodes[e.to]!;
      throw new PlanError(
        'STAGE_FORWARD_REFERENCE',
        `cannot use stage ${JSON.stringify(later.displayName)} (line ${later.line}) in ${e.what} of stage ${JSON.stringify(n.displayName)} (line ${n.line}): it needs to be defined before the current stage`,
        { location: e.location },
      );
    }
  }
}

/** Stages each node needs built first (its base stage and `--from` stages), deduplicated, in order. */
export function needsOf(node: GraphNode): number[] {
  return [...new Set(edges(node).map((e) => e.to))].sort((a, b) => a - b);
}

/**
 * Reachable stages grouped into levels: a stage's level is one more than
 * the highest level among the stages it needs, so every stage of one level
 * can run at the same time once the levels before it are done.
 */
export function levelsOf(nodes: readonly GraphNode[], reachable: ReadonlySet<number>): number[][] {
  const level = new Map<number, number>();
  const levels: number[][] = [];
  for (const n of nodes) {
    if (!reachable.has(n.index)) continue;
    const l = Math.max(-1, ...needsOf(n).map((i) => level.get(i)!)) + 1;
    level.set(n.index, l);
    (levels[l] ??= []).push(n.index);
  }
  return levels;
}
