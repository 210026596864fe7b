import { KilnError } from '../errors.ts';

/** A build step that cannot be carried out (bad source, bad value, missing user…), with its Dockerfile location. */
export class BuildStepError extends KilnError {}
