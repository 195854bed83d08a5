// Streaming file access for logs and traces: chunks in, chunks out, never the whole file
// in memory.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Event } from "../devices/events.js";
import type { LogHeader } from "../replay/logformat.js";
import { LogDecoder } from "../replay/logformat.js";
import type { EventSource } from "../replay/replay.js";
import type { TraceHeader, TraceRecord } from "../trace/format.js";
import { TraceDecoder } from "../trace/format.js";

const READ_CHUNK_BYTES = 256 * 1024;

/** Writes chunks to a file as they come (synchronously: a crash loses at most the unflushed batch). */
export class ChunkFile {
  private readonly fd: number;
  bytes = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }

  write(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.bytes += chunk.length;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Reads a file chunk by chunk. */
export class ChunkReader {
  private readonly fd: number;
  readonly size: number;
  offset = 0;
  done = false;

  constructor(readonly path: string) {
    this.fd = openSync(path, "r");
    this.size = fstatSync(this.fd).size;
  }

  read(): Uint8Array | undefined {
    if (this.done) return undefined;
    const buf = new Uint8Array(READ_CHUNK_BYTES);
    const n = readSync(this.fd, buf, 0, buf.length, this.offset);
    if (n === 0) {
      this.done = true;
      closeSync(this.fd);
      return undefined;
    }
    this.offset += n;
    return buf.subarray(0, n);
  }
}

/** A log file as an EventSource: reads more of the file whenever its queue runs dry. */
export class LogFileSource implements EventSource {
  private readonly reader: ChunkReader;
  private readonly decoder = new LogDecoder();
  private queue: Event[] = [];
  private at = 0;
  readonly header: LogHeader;
  /** True once the whole file has been read and decoded. */
  ended = false;

  constructor(path: string) {
    this.reader = new ChunkReader(path);
    let h: LogHeader | undefined;
    while (!(h = this.decoder.readHeader())) {
      const c = this.reader.read();
      if (!c) {
        this.decoder.finish();
        throw new Error("unreachable: finish() throws without a header");
      }
      this.decoder.push(c);
    }
    this.header = h;
  }

  get fileSize(): number {
    return this.reader.size;
  }

  get fileOffset(): number {
    return this.decoder.offset;
  }

  peek(): Event | undefined {
    while (this.at >= this.queue.length) {
      if (this.ended) return undefined;
      const batch = this.decoder.nextBatch();
      if (batch) {
        this.queue = batch;
        this.at = 0;
        continue;
      }
      const c = this.reader.read();
      if (c) this.decoder.push(c);
      else {
        this.decoder.finish();
        this.ended = true;
      }
    }
    return this.queue[this.at];
  }

  take(): void {
    this.at++;
  }

  /**
   * After the END mark was replayed: reads the rest of the file, which must be empty (a
   * frame or any byte after END is a FormatError with its offset, never ignored).
   */
  readToEnd(): void {
    if (this.at < this.queue.length) throw new Error("readToEnd: events are still queued");
    for (;;) {
      if (this.decoder.nextBatch()) throw new Error("unreachable: a batch after END throws");
      const c = this.reader.read();
      if (!c) break;
      this.decoder.push(c);
    }
    this.decoder.finish();
    this.ended = true;
  }
}

/** Reads a trace file: the header, then records one by one. */
export function openTrace(path: string): { header: TraceHeader; records: Iterator<TraceRecord> } {
  const reader = new ChunkReader(path);
  const dec = new TraceDecoder();
  let header: TraceHeader | undefined;
  while (!(header = dec.readHeader())) {
    const c = reader.read();
    if (!c) dec.finish();
    else dec.push(c);
  }
  function* records(): Generator<TraceRecord> {
    for (;;) {
      const batch = dec.nextRecords();
      if (batch) {
        yield* batch;
        continue;
      }
      const c = reader.read();
      if (!c) {
        dec.finish();
        return;
      }
      dec.push(c);
    }
  }
  return { header, records: records() };
}

/**
 * `mkdir -p` that always returns: Node 20's recursive mkdirSync never does for a path under
 * /proc (mkdir answers ENOENT for the new directory and EEXIST for its parent, and Node
 * retries forever). Each level is tried at most twice here, and the error is thrown.
 */
export function makeDirs(path: string): void {
  const abs = resolve(path);
  try {
    mkdirSync(abs);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code !== "ENOENT" || dirname(abs) === abs) throw e;
  }
  makeDirs(dirname(abs));
  mkdirSync(abs);
}
