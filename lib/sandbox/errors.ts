import { KilnError } from '../errors.ts';

/**
 * Failures of the RUN sandbox. Codes:
 * - `SANDBOX_UNAVAILABLE`: no usable backend (the message says how to fix it);
 * - `RUN_FAILED`: the command exited non-zero (`exitCode`, `tail`: its last lines of output);
 * - `RUN_SIGNALED`: the sandbox was killed (`signal`), e.g. by the caller's AbortSignal;
 * - `MOUNT_INVALID`: a mount or working directory that cannot be set up (`target`);
 * - `USER_UNKNOWN` / `GROUP_UNKNOWN`: a USER name missing from /etc/passwd or /etc/group;
 * - `ROOTFS_WRITE_FAILED` / `CAPTURE_FAILED`: the rootfs could not be written or read back;
 * - `SESSION_DISPOSED`: a session used after dispose().
 */
export class SandboxError extends KilnError {}
