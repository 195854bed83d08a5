// What the live environment is given instead of reading the world itself: real
// implementations live in src/host, simulated ones in tests and the simulator.
import type { DiskRequest } from "../devices/disk.js";

/**
 * Where disk requests go on the live side: a file on this host (src/host/disk.ts), an
 * in-memory disk in tests and the simulator. done() must be called exactly once per
 * request, and never from inside submit(): a completion is an asynchronous event.
 */
export interface DiskBackend {
  /**
   * Performs a request; done(status, data) reports DISK_OK with a read's bytes, or DISK_E_IO.
   * `epoch` is the FT epoch of the live host submitting it (a shared disk fences writes by
   * it); back-ends owned by one host ignore it.
   */
  submit(req: DiskRequest, done: (status: number, data?: Uint8Array) => void, epoch?: number): void;
}

export interface World {
  /** A monotonic clock in microseconds (any origin). */
  nowUs(): number;
  /** 32 random bits. */
  random32(): number;
  /** This host's identity. */
  readonly hostId: number;
  /** The disk back-end, when the guest has a disk. */
  readonly disk?: DiskBackend;
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
