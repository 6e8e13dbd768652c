/**
 * The time, in milliseconds since the epoch. Services that compare ages against a TTL take one, so a test
 * can move time forward instead of sleeping through the TTL.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
