// How big an event is in a log batch, once for everyone who batches events: the log file
// writer (src/host/live.ts) and the primary's log channel (src/ft/primary.ts).
import type { Event } from "../devices/events.js";

/**
 * A batch closes once its events reach about this many bytes. Disk reads carry up to 64
 * KiB each and network input its bytes: a batch bounded only in time or count could grow
 * past the log file's frame bound (4 MiB) or the channel's message bound (16 MiB).
 */
export const LOG_BATCH_BYTES_MAX = 1024 * 1024;

/** An event's size estimate (the wire and file encodings are close to it; its byte payload dominates). */
export function eventBytes(e: Event): number {
  const d = e.data as { data?: unknown; bytes?: unknown } | Uint8Array | null | undefined;
  if (d instanceof Uint8Array) return 16 + d.length;
  // Disk reads carry `data`, network input (EV.NET_RX) `bytes`.
  if (typeof d === "object" && d !== null) return 16 + 64 + (d.data instanceof Uint8Array ? d.data.length : 0) + (d.bytes instanceof Uint8Array ? d.bytes.length : 0);
  return 16 + 8;
}
