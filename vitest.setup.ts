/**
 * Property tests draw random cases. Locally every run explores new ones; in CI (CI=true) the seed is fixed so that
 * a submission is judged on the same cases every time. FC_SEED=<n> reproduces a run, FC_SEED=random forces new cases.
 */
import fc from 'fast-check';

const requested = process.env.FC_SEED;
const seed = requested === 'random' ? undefined : requested !== undefined ? Number(requested) : process.env.CI ? 20261127 : undefined;
if (seed !== undefined) {
  if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer or 'random', got '${requested}'`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
}
