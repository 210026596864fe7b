export * from './errors.ts';
export * from './types.ts';
export { type BackendChoice, type SandboxInfo, type SandboxTools, probeSandbox } from './probe.ts';
export { RootfsSession, type SessionOptions, run, capture } from './session.ts';
export { resolveRunUser, type ResolvedUser } from './users.ts';
export { rootlessUserNamespace } from './rootless.ts';
export { DEFAULT_PATH, runEnv } from './run.ts';
export { DEFAULT_HOSTNAME, hostsFile, resolvConf } from './etc-files.ts';
export { BINFMT_CONF_DIR, BINFMT_DIR, BINFMT_PLATFORMS, BinfmtError, type BinfmtEntry, type BinfmtPlatform, type BinfmtState, type Emulation, type EmulationOptions, type InstallOptions, type InstallOutcome, type InstallReport, type UninstallOptions, emulationFor, formatBinfmtPlatform, hostArchitecture, installBinfmt, readBinfmt, uninstallBinfmt } from './binfmt.ts';
