/** The PCM comparison helpers now live in the public test kit (tapline/testing); kept here for the suite's imports. */
export { bestLag, channelOf, pcmCorrelation } from '../core/testing/pcm';
