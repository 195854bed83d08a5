// `ftvm ft --record FILE`: the hosts' log segments (see src/replay/segment.ts) stitched
// into one .ftlog for the whole run: the events that became history, in lsn order, with
// the epoch boundaries in the header. Two passes over the segments (the header, written
// first, names the boundaries), never more than a frame of each in memory.
import { existsSync, statSync } from "node:fs";
import type { Event } from "../devices/events.js";
import type { LogHeader } from "../replay/logformat.js";
import { encodeLogFrame, encodeLogHeader } from "../replay/logformat.js";
import type { EpochBoundary, SegmentEvents, SegmentHeader, StitchEnd } from "../replay/segment.js";
import { SegmentDecoder, stitchSegments } from "../replay/segment.js";
import { FormatError } from "../trace/framing.js";
import { ChunkFile, ChunkReader } from "./files.js";

/** Events per frame of the stitched log. */
const STITCH_BATCH_EVENTS_MAX = 4096;

export interface StitchResult extends StitchEnd {
  events: number;
  epochs: EpochBoundary[];
  bytes: number;
}

/** Reads a segment's header and its events; a tail cut by a SIGKILL ends it quietly. */
function openSegment(path: string): { header: SegmentHeader; events: SegmentEvents } | undefined {
  // A host started as the run ended may not have made its file; one that never went live wrote nothing.
  if (!existsSync(path) || statSync(path).size === 0) return undefined;
  const reader = new ChunkReader(path);
  const dec = new SegmentDecoder();
  let header: SegmentHeader | undefined;
  while (!(header = dec.readHeader())) {
    const c = reader.read();
    if (!c) return undefined; // killed before its header was complete: it logged nothing
    dec.push(c);
  }
  function* events(): Generator<{ epoch: number; event: Event }> {
    for (;;) {
      const b = dec.nextBatch();
      if (b) {
        for (const event of b.events) yield { epoch: b.epoch, event };
        continue;
      }
      const c = reader.read();
      if (c) {
        dec.push(c);
        continue;
      }
      try {
        dec.finish();
      } catch (e) {
        // The host died while writing its last frame: that frame never left the host.
        if (!(e instanceof FormatError && e.message.startsWith("truncated"))) throw e;
      }
      return;
    }
  }
  return { header, events: events() };
}

export function stitchRun(segmentPaths: string[], outPath: string): StitchResult | undefined {
  const open = () => segmentPaths.map(openSegment).filter((s): s is NonNullable<typeof s> => s !== undefined);
  const first = open();
  if (first.length === 0) return undefined;
  const hosts = first.map((s) => s.header.host);
  // Pass 1: where history goes and where its epochs change.
  const epochs: EpochBoundary[] = [];
  const walk = stitchSegments(
    first.map((s) => s.events),
    hosts,
    epochs,
  );
  let r = walk.next();
  while (!r.done) r = walk.next();
  const end = r.value;
  // Pass 2: write it.
  const h = first[0].header;
  const header: LogHeader = { image: h.image, memBytes: h.memBytes, stackBytes: h.stackBytes, unloggedRand: false, program: h.program, ...(h.disk ? { disk: h.disk } : {}), epochs };
  const out = new ChunkFile(outPath);
  let events = 0;
  try {
    out.write(encodeLogHeader(header));
    const again = open();
    let batch: Event[] = [];
    const it = stitchSegments(
      again.map((s) => s.events),
      again.map((s) => s.header.host),
      [],
    );
    for (let x = it.next(); !x.done; x = it.next()) {
      batch.push(x.value);
      events++;
      if (batch.length >= STITCH_BATCH_EVENTS_MAX) {
        out.write(encodeLogFrame(batch));
        batch = [];
      }
    }
    if (batch.length > 0) out.write(encodeLogFrame(batch));
  } finally {
    out.close();
  }
  return { ...end, events, epochs, bytes: out.bytes };
}
