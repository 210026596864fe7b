/**
 * Test kit: who may do what, for the token server. A token grants the
 * intersection of what was asked for (the `scope`s) and what the rules allow;
 * asking for more is never an error, the token just carries less, and the
 * registry then answers 401 `insufficient_scope` (docs/spec/auth/token.md).
 */
import type { AccessEntry } from './token-jwt.ts';

/** The account name rules use for requests without credentials. */
export const ANONYMOUS = 'anonymous';

/**
 * One permission. `account`: a user name, `'*'` for any authenticated user,
 * or `'anonymous'` for requests without credentials. `name`: the resource
 * name, where `*` matches any run of characters including `/` (`'bob/*'`,
 * `'*'`). `actions`: `pull`, `push`, `delete`, … or `'*'` for every action.
 * `type` defaults to `repository` (`registry` for `registry:catalog:*`).
 */
export interface TokenAccessRule {
  account: string;
  type?: string;
  name: string;
  actions: readonly string[];
}

/** Every user may pull, push and delete anywhere and list the catalog; anonymous requests may pull. */
export const DEFAULT_ACCESS: readonly TokenAccessRule[] = [
  { account: '*', name: '*', actions: ['pull', 'push', 'delete'] },
  { account: '*', type: 'registry', name: 'catalog', actions: ['*'] },
  { account: ANONYMOUS, name: '*', actions: ['pull'] },
];

/** A parsed scope: `repository:alice/app:pull,push` → `{type, name, actions}`. */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  // The type may carry a class (`repository(plugin)`); the name may hold a
  // `:` (a registry host with a port), so split at the first and the last.
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').filter((a) => a !== '');
  if (name === '') return undefined;
  return { type, name, actions };
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

function ruleApplies(rule: TokenAccessRule, user: string | null, entry: AccessEntry): boolean {
  const accountOk = user === null ? rule.account === ANONYMOUS : rule.account === '*' || rule.account === user;
  return accountOk && (rule.type ?? 'repository') === entry.type && globToRegExp(rule.name).test(entry.name);
}

/**
 * What a token for `user` (null: anonymous) asking for `scopes` carries:
 * for each scope, the requested actions that some matching rule allows.
 * Scopes with nothing granted are left out; repeated scopes for the same
 * resource are merged, as Distribution's own token servers do.
 */
export function grantAccess(rules: readonly TokenAccessRule[], user: string | null, scopes: readonly string[]): AccessEntry[] {
  const granted = new Map<string, AccessEntry>();
  for (const scope of scopes) {
    const wanted = parseScope(scope);
    if (wanted === undefined) continue;
    const matching = rules.filter((r) => ruleApplies(r, user, wanted));
    const allowed = wanted.actions.filter((a) => matching.some((r) => r.actions.includes('*') || r.actions.includes(a)));
    if (allowed.length === 0) continue;
    const key = `${wanted.type}:${wanted.name}`;
    const entry = granted.get(key) ?? { type: wanted.type, name: wanted.name, actions: [] };
    for (const a of allowed) if (!entry.actions.includes(a)) entry.actions.push(a);
    granted.set(key, entry);
  }
  return [...granted.values()];
}

/** The OAuth2 `scope` answer: granted access as a space-separated scope list. */
export function formatScopes(entries: readonly AccessEntry[]): string {
  return entries.map((e) => `${e.type}:${e.name}:${e.actions.join(',')}`).join(' ');
}
