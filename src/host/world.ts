// The real world given to the live environment: the host's monotonic clock, the
// operating system's random source and this host's identity.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { World } from "../replay/world.js";

/** A 32-bit identity derived from the host name (FNV-1a), unless one is given. */
export function defaultHostId(): number {
  let h = 0x811c9dc5;
  for (const ch of hostname()) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

export function realWorld(hostId = defaultHostId()): World {
  // Random bits come in blocks so RAND-heavy guests do not make a system call each.
  let pool = randomBytes(4096);
  let at = 0;
  return {
    hostId,
    nowUs: () => performance.now() * 1000,
    random32: () => {
      if (at + 4 > pool.length) {
        pool = randomBytes(4096);
        at = 0;
      }
      const v = pool.readUInt32LE(at);
      at += 4;
      return v;
    },
  };
}
