// A recorded log decoded whole, for the debugger: the header, every event in lsn order,
// and where the history ends. The debugger jumps around in time, so it needs random access
// to the events (the replay command streams them instead). The bytes come from the caller;
// nothing here opens a file.
import type { Event } from "../devices/events.js";
import { EV, SYNC_KINDS } from "../devices/events.js";
import type { LogHeader } from "../replay/logformat.js";
import { LogDecoder } from "../replay/logformat.js";
import { FormatError } from "../trace/framing.js";
import type { Image } from "../vm/image.js";
import { decodeImage } from "../vm/image.js";

/** Refuse logs with more events than this: each decoded event costs about a hundred bytes of heap. */
export const DEBUG_LOG_EVENTS_MAX = 20_000_000;

export interface DebugLog {
  header: LogHeader;
  image: Image;
  events: Event[];
  /**
   * For each event index i, the index of the first event at or after i that is not a
   * synchronous input (TIME, RAND, HOSTID): replay must stop at its icount to deliver or
   * check it. events.length when there is none.
   */
  nextStop: Int32Array;
  /** The icount where the recorded history ends (the END mark, or the last event of a cut-off log). */
  endIcount: number;
  /** Why it ends: the END mark's reason, or a note that the log was cut off. */
  endReason: string;
  /** True when the log has no END mark (the recording was cut off). */
  cutOff: boolean;
}

/** Decodes a whole log. Throws FormatError (with the byte offset) when the bytes are not a valid log. */
export function decodeDebugLog(bytes: Uint8Array, name = "log"): DebugLog {
  const dec = new LogDecoder();
  dec.push(bytes);
  const header = dec.readHeader();
  if (!header) {
    dec.finish();
    throw new FormatError(`${name}: truncated log header`, 0);
  }
  const events: Event[] = [];
  for (let batch = dec.nextBatch(); batch; batch = dec.nextBatch()) {
    if (events.length + batch.length > DEBUG_LOG_EVENTS_MAX)
      throw new FormatError(`${name}: more than ${DEBUG_LOG_EVENTS_MAX} events (the debugger's limit, DEBUG_LOG_EVENTS_MAX)`, dec.offset);
    for (const e of batch) events.push(e);
  }
  dec.finish();
  // Replay checks lsns as it goes, but the debugger also relies on icounts never going
  // back (it binary-searches them), so a log breaking that is refused up front.
  for (let i = 1; i < events.length; i++) {
    if (events[i].icount < events[i - 1].icount)
      throw new FormatError(`${name}: corrupted log: event lsn ${events[i].lsn} at icount ${events[i].icount} comes after icount ${events[i - 1].icount}`, 0);
  }
  const image = decodeImage(header.image, `${name} (program image)`);
  const nextStop = new Int32Array(events.length + 1);
  nextStop[events.length] = events.length;
  for (let i = events.length - 1; i >= 0; i--) nextStop[i] = SYNC_KINDS.has(events[i].kind) ? nextStop[i + 1] : i;
  const last = events[events.length - 1];
  const ended = last !== undefined && last.kind === EV.END;
  return {
    header,
    image,
    events,
    nextStop,
    endIcount: last ? last.icount : 0,
    endReason: ended ? String((last.data as { reason?: unknown }).reason ?? "end") : "the log was cut off (no END mark)",
    cutOff: !ended,
  };
}

/** Index of the first event with icount >= `icount` (events.length when none). */
export function firstEventAt(events: readonly Event[], icount: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid].icount < icount) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
