/**
 * Issue 6, "Agreement with a real peer": the corpus of multi-stage
 * Dockerfiles without RUN (testdata/differential/*, not run-*) built by kiln
 * and by buildah 1.28 from the same local registry; final filesystems and
 * configs must agree except where exceptions.ts says why buildah differs
 * from BuildKit.
 */
import { differentialSuite } from './differential-suite.ts';

differentialSuite({
  title: 'kiln agrees with buildah 1.28 on Dockerfiles without RUN',
  corpus: 'build',
  minCases: 15,
  buildahJobs: 6,
  kilnJobs: 3,
});
