/** The registry of benchmark suites. Each suite lives in its own file and is listed here. */
import type { Suite } from '../harness.js';

export const suites: Suite[] = [];
