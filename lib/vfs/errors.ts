import { KilnError } from '../errors.ts';

/** Failures of tree operations: a path that cannot be resolved or created. */
export class VfsError extends KilnError {}
