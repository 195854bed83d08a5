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
  /**
   * Optional: performs a request at once and returns its outcome. A back-end on a local
   * file offers it; a remote or simulated one does not. A backup replaying its own disk
   * uses it (src/ft/localdisk.ts): there the caller waits for the result anyway.
   */
  perform?(req: DiskRequest): { status: number; data?: Uint8Array };
  /**
   * Optional: requests submitted between cork() and the matching uncork() may leave
   * together. A remote back-end (the shared disk's client) sends them in one socket write,
   * so its server is woken, and answers, once for all of them (see DiskGate.take).
   */
  cork?(): void;
  uncork?(): void;
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
  /** Where network input comes from (a TCP server, later the virtual switch); none: the NIC stays idle. */
  readonly net?: NetSource;
}

/** One network input for the NIC: EV.NET_OPEN, EV.NET_RX or EV.NET_CLOSE with its data. */
export interface NetInput {
  kind: number;
  data: { conn: number; bytes?: Uint8Array };
}

/**
 * The input side of a network back-end, polled by the live environment at instruction
 * boundaries. Events of one connection come out in the order they happened.
 */
export interface NetSource {
  /** True when take(maxBytes) would return an event. */
  ready(maxBytes: number): boolean;
  /** The next event; a data event carries at most maxBytes (longer input is split); undefined when none fits. */
  take(maxBytes: number): NetInput | undefined;
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
