/**
 * Token scopes of Docker's token auth: `repository:NAME:ACTIONS` (or another
 * resource type), several per token.
 */
export interface Scope {
  readonly type: string;
  readonly name: string;
  /** Sorted, unique. */
  readonly actions: readonly string[];
}

/** The scope for actions on one repository. */
export function repositoryScope(name: string, actions: readonly string[]): Scope {
  return { type: 'repository', name, actions: [...new Set(actions)].sort() };
}

/** Parses `type:name:a,b`; names may contain colons (the actions follow the last one). */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = text.slice(last + 1).split(',').filter((a) => a !== '');
  return { type: text.slice(0, first), name: text.slice(first + 1, last), actions: [...new Set(actions)].sort() };
}

/** `repository:name:pull,push`. */
export function formatScope(s: Scope): string {
  return `${s.type}:${s.name}:${s.actions.join(',')}`;
}

/** Merges scopes on the same resource (action sets united); sorted by resource. */
export function mergeScopes(scopes: readonly Scope[]): Scope[] {
  const byResource = new Map<string, Scope>();
  for (const s of scopes) {
    const key = `${s.type}:${s.name}`;
    const prev = byResource.get(key);
    byResource.set(key, prev ? { ...s, actions: [...new Set([...prev.actions, ...s.actions])].sort() } : s);
  }
  return [...byResource.keys()].sort().map((k) => byResource.get(k)!);
}

/** True when every action of every needed scope is in `granted`. */
export function coversScopes(granted: readonly Scope[], needed: readonly Scope[]): boolean {
  return needed.every((n) =>
    n.actions.every((a) => granted.some((g) => g.type === n.type && g.name === n.name && (g.actions.includes(a) || g.actions.includes('*')))),
  );
}

/** A stable key for a set of scopes. */
export function scopesKey(scopes: readonly Scope[]): string {
  return mergeScopes(scopes).map(formatScope).join(' ');
}
