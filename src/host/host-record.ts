// An FT host's log segment (`ftvm primary|backup --record-segment FILE`, given by ftvm ft
// --record): every event this host logs while live, with its epoch (see
// src/replay/segment.ts). Events are buffered and written before any log batch leaves
// for the backup (the shell flushes before each "log" message), every
// RECORD_FLUSH_INTERVAL_MS, and when the host stops.
import type { DiskGeometry } from "../devices/disk.js";
import type { Event } from "../devices/events.js";
import { encodeSegmentFrame, encodeSegmentHeader } from "../replay/segment.js";
import { ChunkFile } from "./files.js";

export const RECORD_FLUSH_INTERVAL_MS = 200;
/** Events per segment frame at most. */
const SEGMENT_BATCH_EVENTS_MAX = 4096;

export interface RecordStart {
  program: string;
  image: Uint8Array;
  memBytes: number;
  stackBytes: number;
  disk?: DiskGeometry;
}

export class HostRecord {
  private file?: ChunkFile;
  private opened = false;
  private pending: Event[] = [];
  private pendingEpoch = -1;

  constructor(
    readonly path: string,
    private readonly host: string,
  ) {
    // Created at once: a path that cannot be written is an error at the start.
    this.file = new ChunkFile(path);
  }

  /** The node went live (the first time this writes the header). */
  open(s: RecordStart): void {
    if (this.opened) return;
    this.opened = true;
    this.file?.write(encodeSegmentHeader({ image: s.image, memBytes: s.memBytes, stackBytes: s.stackBytes, unloggedRand: false, program: s.program, ...(s.disk ? { disk: s.disk } : {}), host: this.host }));
  }

  add(e: Event, epoch: number): void {
    if (epoch !== this.pendingEpoch || this.pending.length >= SEGMENT_BATCH_EVENTS_MAX) this.flush();
    this.pendingEpoch = epoch;
    this.pending.push(e);
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.file?.write(encodeSegmentFrame(this.pendingEpoch, this.pending));
    this.pending = [];
  }

  close(): void {
    this.flush();
    this.file?.close();
    this.file = undefined;
  }
}
