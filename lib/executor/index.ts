export { executeBuild, type ImageResolver, type StageResult } from './execute.ts';
export type { BuildContext, BuildEvent, ExecOptions, Expander } from './stage-state.ts';
export { BuildStepError } from './errors.ts';
