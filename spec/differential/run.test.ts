/**
 * Issue 7, "Done when": RUN results on the busybox base (the
 * testdata/differential/run-* cases) built by kiln and by buildah 1.28 must
 * agree except where exceptions.ts says why buildah differs from BuildKit.
 */
import { differentialSuite } from './differential-suite.ts';

differentialSuite({
  title: 'kiln agrees with buildah 1.28 on RUN steps',
  corpus: 'run',
  minCases: 8,
  buildahJobs: 6,
  kilnJobs: 2,
});
