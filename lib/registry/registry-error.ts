import { KilnError, type KilnErrorOptions } from '../errors.ts';
import { clip, redact } from './redact.ts';

/** Error codes of the distribution spec, as registries send them in error bodies. */
const DISTRIBUTION_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;

export type DistributionErrorCode = (typeof DISTRIBUTION_CODES)[number];

/** Stable codes of {@link RegistryError}: the distribution codes plus kiln's own. */
export type RegistryErrorCode =
  | DistributionErrorCode
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_TIMEOUT'
  | 'REGISTRY_TLS'
  | 'REGISTRY_UNAVAILABLE'
  | 'REGISTRY_PROTOCOL'
  | 'DIGEST_MISMATCH'
  | 'BLOB_TRUNCATED'
  | 'MANIFEST_TOO_LARGE'
  | 'MANIFEST_UNSUPPORTED'
  | 'PLATFORM_UNAVAILABLE'
  | 'CREDENTIAL_HELPER_FAILED'
  | 'DOCKER_CONFIG_INVALID'
  | 'MIRROR_INVALID';

/** Where a registry error happened; every field is safe to show. */
export interface RegistryContext {
  registry: string;
  repository?: string | undefined;
  /** Tag or digest. */
  reference?: string | undefined;
}

export interface RegistryErrorOptions extends KilnErrorOptions {
  registry?: string;
  repository?: string | undefined;
  reference?: string | undefined;
  status?: number;
  /** The code the registry sent, when it differs from `code`. */
  registryCode?: string;
  /** Milliseconds the registry asked us to wait (Retry-After). */
  retryAfterMs?: number;
}

/**
 * A failure talking to a registry. Fields `registry`, `repository`,
 * `reference` and `status` say where; nothing in the message or the fields
 * ever holds a credential, a token or a presigned URL.
 */
export class RegistryError extends KilnError {
  declare readonly code: RegistryErrorCode;

  constructor(code: RegistryErrorCode, message: string, options?: RegistryErrorOptions) {
    super(code, message, options);
  }

  get status(): number | undefined {
    const s = this.fields.status;
    return typeof s === 'number' ? s : undefined;
  }

  get retryAfterMs(): number | undefined {
    const s = this.fields.retryAfterMs;
    return typeof s === 'number' ? s : undefined;
  }
}

/** `registry/repository:tag` or `registry/repository@digest`, for messages. */
export function describeContext(ctx: RegistryContext): string {
  let s = ctx.registry;
  if (ctx.repository !== undefined) s += `/${ctx.repository}`;
  if (ctx.reference !== undefined) s += ctx.reference.includes(':') ? `@${ctx.reference}` : `:${ctx.reference}`;
  return s;
}

const PHRASES: Partial<Record<RegistryErrorCode, string>> = {
  BLOB_UNKNOWN: 'blob unknown to the registry',
  BLOB_UPLOAD_INVALID: 'blob upload invalid',
  BLOB_UPLOAD_UNKNOWN: 'blob upload unknown',
  DIGEST_INVALID: 'the registry rejected the content digest',
  MANIFEST_BLOB_UNKNOWN: 'the manifest references a blob the repository does not have',
  MANIFEST_INVALID: 'the registry rejected the manifest as invalid',
  MANIFEST_UNKNOWN: 'manifest unknown (no such tag or digest)',
  NAME_INVALID: 'invalid repository name',
  NAME_UNKNOWN: 'repository unknown to the registry',
  SIZE_INVALID: 'the registry rejected the content size',
  UNAUTHORIZED: 'authentication required or credentials rejected',
  DENIED: 'access denied',
  UNSUPPORTED: 'operation unsupported by the registry',
  TOOMANYREQUESTS: 'too many requests (rate limited)',
  REGISTRY_UNAVAILABLE: 'the registry answered with a server error',
  REGISTRY_PROTOCOL: 'unexpected answer from the registry',
};

interface ErrorBody {
  code: string | undefined;
  message: string | undefined;
}

/** The first error of a distribution error body (`{"errors":[{code,message}]}`), if any. */
export function parseErrorBody(text: string): ErrorBody {
  try {
    const doc: unknown = JSON.parse(text);
    const errors = (doc as { errors?: unknown }).errors;
    const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
    if (first !== null && typeof first === 'object') {
      const { code, message } = first as { code?: unknown; message?: unknown };
      return { code: typeof code === 'string' ? code : undefined, message: typeof message === 'string' ? message : undefined };
    }
  } catch {
    // not JSON: the status alone decides
  }
  return { code: undefined, message: undefined };
}

function isDistributionCode(code: string | undefined): code is DistributionErrorCode {
  return code !== undefined && (DISTRIBUTION_CODES as readonly string[]).includes(code);
}

/** The code for an HTTP status when the body names none kiln knows. */
function codeForStatus(status: number, notFound: RegistryErrorCode): RegistryErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return notFound;
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status >= 500) return 'REGISTRY_UNAVAILABLE';
  return 'REGISTRY_PROTOCOL';
}

/**
 * Maps an error answer to a {@link RegistryError}: the body's distribution
 * code when it has one kiln knows, else one derived from the status
 * (`notFound` for 404s, which have no body on HEAD). The registry's own
 * message is redacted and clipped.
 */
export function errorFromResponse(
  status: number,
  bodyText: string,
  ctx: RegistryContext,
  opts: { notFound?: RegistryErrorCode; retryAfterMs?: number | undefined; action?: string } = {},
): RegistryError {
  const body = parseErrorBody(bodyText);
  const code = isDistributionCode(body.code) ? body.code : codeForStatus(status, opts.notFound ?? 'NAME_UNKNOWN');
  const phrase = PHRASES[code] ?? code.toLowerCase().replace(/_/g, ' ');
  // Registries often repeat the code as the message ("manifest unknown"): say it once.
  const repeats = body.message === undefined || phrase.toLowerCase().startsWith(body.message.toLowerCase().trim());
  const said = repeats ? '' : `: ${clip(redact(body.message!))}`;
  const action = opts.action !== undefined ? `${opts.action} ` : '';
  const message = `${action}${describeContext(ctx)}: ${phrase} (HTTP ${status})${said}`;
  return new RegistryError(code, message, {
    ...ctx,
    status,
    ...(body.code !== undefined && body.code !== code ? { registryCode: body.code } : {}),
    ...(opts.retryAfterMs !== undefined ? { retryAfterMs: opts.retryAfterMs } : {}),
  });
}

/**
 * The same error told from the operation's point of view: `pull of
 * registry/repo:tag: …` in front of a message raised below it (a ping, a
 * token request, a connection that failed). Other errors pass through.
 */
export function inOperation(err: unknown, action: string | undefined, ctx: RegistryContext): unknown {
  if (!(err instanceof RegistryError) || action === undefined || err.message.startsWith(`${action} `)) return err;
  const where = describeContext(ctx);
  // A network error already names the place (`where (url): …`): say it once.
  const named = err.message.startsWith(`${where}:`) || err.message.startsWith(`${where} (`);
  const message = named ? `${action} ${err.message}` : `${action} ${where}: ${err.message}`;
  return new RegistryError(err.code, message, { ...err.fields, ...ctx, cause: err.cause });
}
