/** The seeded PRNG lives in the public test kit (tapline/testing); kept here for the suite's imports. */
export { mulberry32 } from '../core/testing/prng';
