import { KilnError } from '../errors.ts';

/** Failures of the composition root: missing context or Dockerfile, missing base image, bad output… */
export class BuildError extends KilnError {}
