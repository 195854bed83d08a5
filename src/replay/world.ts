// What the live environment is given instead of reading the world itself: real
// implementations live in src/host, simulated ones in tests and the simulator.
export interface World {
  /** A monotonic clock in microseconds (any origin). */
  nowUs(): number;
  /** 32 random bits. */
  random32(): number;
  /** This host's identity. */
  readonly hostId: number;
}

/** A deterministic world for tests: the clock advances `stepUs` per reading, random bits from a seed. */
export function fakeWorld(seed = 1, hostId = 7, stepUs = 10): World & { advance(us: number): void } {
  let t = 0;
  let s = seed >>> 0 || 1;
  return {
    hostId,
    nowUs: () => (t += stepUs),
    random32: () => {
      // xorshift32: deterministic, good enough for test inputs.
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s;
    },
    advance(us: number) {
      t += us;
    },
  };
}
