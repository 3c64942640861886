/** The registry of benchmark suites. Each suite lives in its own file and is listed here. */
import type { Suite } from '../harness.js';
import { metricsSuite } from './metrics.js';
import { trainMemorySuite } from './train-memory.js';
import { kernelsSuite } from './kernels.js';
import { gpujsSuite } from './gpujs.js';
import { trainStepSuite } from './train-step.js';
import { ocltOverheadSuite } from './oclt-overhead.js';
import { softmaxAccuracySuite } from './softmax-accuracy.js';
import { plainLoopSuite } from './plain-loop.js';

export const suites: Suite[] = [
  trainMemorySuite,
  metricsSuite,
  kernelsSuite,
  softmaxAccuracySuite,
  gpujsSuite,
  trainStepSuite,
  ocltOverheadSuite,
  plainLoopSuite,
];
