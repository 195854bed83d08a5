// What the host's thread and its I/O thread (io-thread.ts, io-worker.ts) say to each other,
// and the layout of the memory they share per channel.

/**
 * The shared state word of a channel (Int32 at byte 0). OPEN: the I/O thread may
 * acknowledge log early. ACKING: it is doing so now (the host's thread waits until it is
 * done). HELD: the host's thread is deciding something that must see every message the
 * front acknowledged (its failure detector's tick), so nothing is acknowledged early.
 * CLOSED: the channel is over; the front's figure is final.
 */
export const ST_OPEN = 0;
export const ST_ACKING = 1;
export const ST_HELD = 2;
export const ST_CLOSED = 3;

/** Float64 figures after the state word (at byte 8): written by one side, read by the other. */
export const SHARED_ICOUNT = 0; // the host's thread: the backup's replay icount
export const SHARED_QUEUED = 1; // the host's thread: events in the replay queue
export const SHARED_ACKED = 2; // the I/O thread: the largest lsn its front acknowledged
export const SHARED_BATCHES = 3; // the I/O thread: log batches received
export const SHARED_EARLY = 4; // the I/O thread: log batches its front acknowledged on arrival
export const SHARED_FIGURES = 5;
export const SHARED_BYTES = 8 + SHARED_FIGURES * 8;

type AnyMsg = { t: string; [k: string]: unknown };

export type IoCommand =
  | { op: "connect"; id: number; url: string; secret: string; service: string; timeoutMs?: number; queueEventsMax: number; shared: SharedArrayBuffer }
  | { op: "send"; id: number; msgs: AnyMsg[]; taken: number }
  | { op: "partition"; id: number; on: boolean }
  | { op: "close"; id: number; reason: string }
  | { op: "refuse"; id: number; code: number; reason: string }
  | { op: "terminate"; id: number };

export type IoEvent =
  | { op: "connected"; id: number; peer: string }
  | { op: "connect-failed"; id: number; error: string }
  // A log batch comes as `raw`, its encoded bytes (decoded again on the host's thread: see
  // io-bytes.ts, frameBytes); any other message as `m`, decoded.
  | { op: "message"; id: number; m?: AnyMsg; raw?: Uint8Array; bytesOut: number; info?: FrontInfo }
  | { op: "close"; id: number; code: number; reason: string; bytesOut: number }
  | { op: "log"; line: string };

/** What the log front made of a message: its number on the channel, and for a log batch while armed, the node's lsn after it. */
export interface FrontInfo {
  seq: number;
  front?: { lsn: number; acked: boolean };
}
