/**
 * BuildKit's build-check rules (frontend/dockerfile/linter/ruleset.go): rule
 * names, documentation URLs and message wording, as BuildKit formats them.
 * Which rules kiln runs where: lint.ts (static, parse-level rules) and the
 * planner (UndefinedVar and other rules that need ARG/ENV scoping).
 */
import { goQuote } from './ast.ts';

/** One warning of a build-check rule, separate from errors. */
export interface LintWarning {
  /** BuildKit's rule name, e.g. `UndefinedVar`. */
  rule: string;
  /** BuildKit's wording, e.g. `Usage of undefined variable '$FOO'`. */
  message: string;
  /** `https://docs.docker.com/go/dockerfile/rule/<kebab-name>/` (empty for rules without a page). */
  url: string;
  /** Where the rule fired; `column` is 1-based when known. */
  location: { file: string; line: number; column?: number };
}

/** Every rule name BuildKit defines (experimental ones included). */
export type LintRuleName =
  | 'StageNameCasing' | 'FromAsCasing' | 'NoEmptyContinuation' | 'ConsistentInstructionCasing'
  | 'DuplicateStageName' | 'ReservedStageName' | 'JSONArgsRecommended' | 'MaintainerDeprecated'
  | 'UndefinedArgInFrom' | 'WorkdirRelativePath' | 'UndefinedVar' | 'MultipleInstructionsDisallowed'
  | 'LegacyKeyValueFormat' | 'InvalidBaseImagePlatform' | 'RedundantTargetPlatform'
  | 'SecretsUsedInArgOrEnv' | 'InvalidDefaultArgInFrom' | 'FromPlatformFlagConstDisallowed'
  | 'CopyIgnoredFile' | 'InvalidDefinitionDescription' | 'ExposeProtoCasing' | 'ExposeInvalidFormat';

interface RuleSpec {
  description: string;
  /** Kebab-case page name; absent for rules BuildKit gives no URL. */
  page?: string;
  /** Experimental rules run only when enabled with `check=experimental=…`. */
  experimental?: boolean;
  format: (...args: string[]) => string;
}

const q = goQuote;

function didYouMean(prefix: string, suggest: string | undefined): string {
  return suggest ? ` (did you mean ${prefix}${suggest}?)` : '';
}

const RULES: Record<LintRuleName, RuleSpec> = {
  StageNameCasing: {
    description: 'Stage names should be lowercase',
    page: 'stage-name-casing',
    format: (name = '') => `Stage name '${name}' should be lowercase`,
  },
  FromAsCasing: {
    description: "The 'as' keyword should match the case of the 'from' keyword",
    page: 'from-as-casing',
    format: (from = '', as = '') => `'${as}' and '${from}' keywords' casing do not match`,
  },
  NoEmptyContinuation: {
    description: 'Empty continuation lines will become errors in a future release',
    page: 'no-empty-continuation',
    format: () => 'Empty continuation line',
  },
  ConsistentInstructionCasing: {
    description: 'All commands within the Dockerfile should use the same casing (either upper or lower)',
    page: 'consistent-instruction-casing',
    format: (command = '', casing = '') => `Command '${command}' should match the case of the command majority (${casing})`,
  },
  DuplicateStageName: {
    description: 'Stage names should be unique',
    page: 'duplicate-stage-name',
    format: (name = '') => `Duplicate stage name ${q(name)}, stage names should be unique`,
  },
  ReservedStageName: {
    description: 'Reserved words should not be used as stage names',
    page: 'reserved-stage-name',
    format: (name = '') => `Stage name should not use the same name as reserved stage ${q(name)}`,
  },
  JSONArgsRecommended: {
    description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
    page: 'json-args-recommended',
    format: (name = '') => `JSON arguments recommended for ${name} to prevent unintended behavior related to OS signals`,
  },
  MaintainerDeprecated: {
    description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
    page: 'maintainer-deprecated',
    format: () => 'Maintainer instruction is deprecated in favor of using label',
  },
  UndefinedArgInFrom: {
    description: 'FROM command must use declared ARGs',
    page: 'undefined-arg-in-from',
    format: (arg = '', suggest) => `FROM argument '${arg}' is not declared${didYouMean('', suggest)}`,
  },
  WorkdirRelativePath: {
    description: 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
    page: 'workdir-relative-path',
    format: (workdir = '') => `Relative workdir ${q(workdir)} can have unexpected results if the base image changes`,
  },
  UndefinedVar: {
    description: 'Variables should be defined before their use',
    page: 'undefined-var',
    format: (arg = '', suggest) => `Usage of undefined variable '$${arg}'${didYouMean('$', suggest)}`,
  },
  MultipleInstructionsDisallowed: {
    description: 'Multiple instructions of the same type should not be used in the same stage',
    page: 'multiple-instructions-disallowed',
    format: (name = '') => `Multiple ${name} instructions should not be used in the same stage because only the last one will be used`,
  },
  LegacyKeyValueFormat: {
    description: 'Legacy key/value format with whitespace separator should not be used',
    page: 'legacy-key-value-format',
    format: (name = '') => `"${name} key=value" should be used instead of legacy "${name} key value" format`,
  },
  InvalidBaseImagePlatform: {
    description: 'Base image platform does not match expected target platform',
    format: (image = '', expected = '', actual = '') =>
      `Base image ${image} was pulled with platform ${q(actual)}, expected ${q(expected)} for current build`,
  },
  RedundantTargetPlatform: {
    description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
    page: 'redundant-target-platform',
    format: (v = '') => `Setting platform to predefined ${v} in FROM is redundant as this is the default behavior`,
  },
  SecretsUsedInArgOrEnv: {
    description: 'Sensitive data should not be used in the ARG or ENV commands',
    page: 'secrets-used-in-arg-or-env',
    format: (ins = '', key = '') => `Do not use ARG or ENV instructions for sensitive data (${ins} ${q(key)})`,
  },
  InvalidDefaultArgInFrom: {
    description: 'Default value for global ARG results in an empty or invalid base image name',
    page: 'invalid-default-arg-in-from',
    format: (base = '') => `Default value for ARG ${base} results in empty or invalid base image name`,
  },
  FromPlatformFlagConstDisallowed: {
    description: 'FROM --platform flag should not use a constant value',
    page: 'from-platform-flag-const-disallowed',
    format: (platform = '') => `FROM --platform flag should not use constant value ${q(platform)}`,
  },
  CopyIgnoredFile: {
    description: 'Attempting to Copy file that is excluded by .dockerignore',
    page: 'copy-ignored-file',
    format: (cmd = '', file = '') => `Attempting to ${cmd} file ${q(file)} that is excluded by .dockerignore`,
  },
  InvalidDefinitionDescription: {
    description: 'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    page: 'invalid-definition-description',
    experimental: true,
    format: (ins = '', name = '') => `Comment for ${ins} should follow the format: \`# ${name} <description>\``,
  },
  ExposeProtoCasing: {
    description: 'Protocol in EXPOSE instruction should be lowercase',
    page: 'expose-proto-casing',
    format: (port = '') => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`,
  },
  ExposeInvalidFormat: {
    description: 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
    page: 'expose-invalid-format',
    format: (port = '') => `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`,
  },
};

/** Static facts of one rule. */
export interface LintRuleInfo {
  name: LintRuleName;
  description: string;
  url: string;
  experimental: boolean;
}

/** The rule's description, URL and whether it is experimental. */
export function lintRule(name: LintRuleName): LintRuleInfo {
  const spec = RULES[name];
  const url = spec.page === undefined ? '' : `https://docs.docker.com/go/dockerfile/rule/${spec.page}/`;
  return { name, description: spec.description, url, experimental: spec.experimental === true };
}

/** Whether `name` is a rule BuildKit knows. */
export function isLintRuleName(name: string): name is LintRuleName {
  return Object.hasOwn(RULES, name);
}

/**
 * Builds a warning with BuildKit's message for `rule`; `args` are the rule's
 * format arguments in BuildKit's order (see ruleset.go), e.g.
 * `lintWarning('UndefinedVar', loc, 'FOO', 'FOO2')`.
 */
export function lintWarning(rule: LintRuleName, location: LintWarning['location'], ...args: string[]): LintWarning {
  const spec = RULES[rule];
  return { rule, message: spec.format(...args), url: lintRule(rule).url, location };
}
