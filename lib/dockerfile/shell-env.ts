/**
 * Where the shell lexer reads variables from: a map (`name → value`), or a
 * function returning the value or `undefined` for an unset name. A name that
 * maps to `''` is set but empty, which matters for `${v-x}` versus
 * `${v:-x}`. Names are compared exactly (Unix rules: case-sensitive).
 */
export type EnvLookup = ReadonlyMap<string, string> | ((name: string) => string | undefined);

/** Reads `name` from `env`; `undefined` means unset. */
export function lookupEnv(env: EnvLookup, name: string): string | undefined {
  return typeof env === 'function' ? env(name) : env.get(name);
}

/**
 * Builds an environment from `NAME=value` entries the way BuildKit's
 * `EnvsFromSlice` does: split at the first `=`, an entry without `=` sets the
 * name to `''`, and a later entry for the same name wins.
 */
export function envFromList(entries: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq < 0) env.set(entry, '');
    else env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}
