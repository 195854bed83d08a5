// A host's log segment (.ftseg, `ftvm primary|backup --record-segment FILE`): every event
// the host logged while it was live, each batch with the epoch it was logged in. `ftvm ft
// --record` gives every host one and stitches them into one .ftlog when the run ends
// (stitchSegments below). Framed like logs and traces (src/trace/framing.ts); the header
// is what a log header holds, plus the host.
//
// Stitching. Log sequence numbers run on across failovers (a backup that goes live
// continues from the last event it replayed), so the run's log is, for every lsn, the
// event that became history. Two hosts hold different events at one lsn only when a
// primary died having logged events its backup never received: the backup went live
// after its last received lsn L, in a higher epoch, and logged its own events from L+1.
// So the event of the highest epoch wins, and once history has reached an epoch no
// event of an older one follows (a dead primary's tail may be longer than the rest of
// the run). Every event of history is in some segment: a primary writes its segment
// before the batch holding the events leaves for its backup.
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import type { FormatSpec } from "../trace/framing.js";
import { FormatError, FrameDecoder, encodeFileHeader, encodeFramePayload, packr } from "../trace/framing.js";
import type { LogHeader } from "./logformat.js";
import { LOG_FORMAT, toEvents } from "./logformat.js";

export const SEGMENT_MAGIC = "FTVMSEG\0";
export const SEGMENT_VERSION = 1;

export interface SegmentHeader extends LogHeader {
  host: string;
}

export const SEGMENT_FORMAT: FormatSpec<SegmentHeader> = {
  ...LOG_FORMAT,
  what: "log segment",
  magic: SEGMENT_MAGIC,
  version: SEGMENT_VERSION,
  readsVersions: undefined,
  checkHeader(h) {
    const problem = LOG_FORMAT.checkHeader(h);
    if (problem) return problem;
    return typeof (h as SegmentHeader).host === "string" ? undefined : "lacks the host";
  },
};

export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  return encodeFileHeader(SEGMENT_FORMAT, h);
}

export function encodeSegmentFrame(epoch: number, events: readonly Event[]): Uint8Array {
  return encodeFramePayload(packr.pack([epoch, events.map((e) => [e.lsn, e.icount, e.kind, e.data])]));
}

/** Reads a segment incrementally: push() chunks, then take batches. */
export class SegmentDecoder {
  private readonly frames = new FrameDecoder(SEGMENT_FORMAT);
  private lastLsn = 0;

  push(chunk: Uint8Array): void {
    this.frames.push(chunk);
  }

  readHeader(): SegmentHeader | undefined {
    return this.frames.readHeader();
  }

  nextBatch(): { epoch: number; events: Event[] } | undefined {
    const f = this.frames.nextFrame();
    if (!f) return undefined;
    const v = f.value as unknown[];
    if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || (v[0] as number) < 0)
      throw new FormatError(`corrupted log segment: frame at offset ${f.offset} is not [epoch, events]`, f.offset);
    const h = this.frames.header!;
    const events = toEvents(v[1], f.offset, { disk: h.disk !== undefined && h.disk !== null });
    for (const e of events) {
      if (e.lsn <= this.lastLsn) throw new FormatError(`corrupted log segment: lsn ${e.lsn} in the frame at offset ${f.offset} does not follow ${this.lastLsn}`, f.offset);
      this.lastLsn = e.lsn;
    }
    return { epoch: v[0] as number, events };
  }

  finish(): void {
    this.frames.finish();
  }
}

/** One segment's events in lsn order, each with its epoch (the caller reads the file). */
export type SegmentEvents = Iterator<{ epoch: number; event: Event }>;

/** Where history passed from one epoch (its logging host) to the next. */
export interface EpochBoundary {
  epoch: number;
  /** The first lsn of history logged in this epoch, and its icount. */
  fromLsn: number;
  icount: number;
  host: string;
  /**
   * Where this epoch's host went live: the icount of the last event before it (a backup
   * goes live where its replay of its primary's log ended), 0 for the first.
   */
  liveIcount: number;
}

export interface StitchEnd {
  /** The last lsn of history, and whether it is the END mark. */
  lastLsn: number;
  ended: boolean;
  /** Why history stops early (a gap: no segment holds the next lsn). */
  gap?: string;
}

/**
 * Merges segments (each in lsn order) into history: yields its events in order and
 * returns how it ended. `hosts[i]` names segment i (for the epoch boundaries).
 */
export function* stitchSegments(segments: SegmentEvents[], hosts: string[], boundaries: EpochBoundary[]): Generator<Event, StitchEnd> {
  const heads = segments.map((s) => s.next());
  let last = 0;
  let lastIcount = 0;
  let maxEpoch = -1;
  for (;;) {
    // Drop what history has passed: lsns already taken, and epochs older than history's.
    for (let i = 0; i < heads.length; i++)
      while (!heads[i].done && (heads[i].value!.event.lsn <= last || heads[i].value!.epoch < maxEpoch)) heads[i] = segments[i].next();
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h.done) continue;
      const b = best < 0 ? undefined : heads[best].value!;
      if (!b || h.value!.event.lsn < b.event.lsn || (h.value!.event.lsn === b.event.lsn && h.value!.epoch > b.epoch)) best = i;
    }
    if (best < 0) return { lastLsn: last, ended: false };
    const { epoch, event } = heads[best].value!;
    if (event.lsn !== last + 1) return { lastLsn: last, ended: false, gap: `no segment holds lsn ${last + 1} (the next one held is ${event.lsn})` };
    if (epoch > maxEpoch) {
      maxEpoch = epoch;
      boundaries.push({ epoch, fromLsn: event.lsn, icount: event.icount, host: hosts[best], liveIcount: lastIcount });
    }
    last = event.lsn;
    lastIcount = event.icount;
    yield event;
    if (event.kind === EV.END) return { lastLsn: last, ended: true };
  }
}
