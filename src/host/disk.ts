// Disk images on this host, and the file back-end the live environment submits disk
// requests to. An image is a 512-byte header (magic, version, block size, block count)
// followed by the blocks. A request is performed at once with positional reads and writes
// and its completion is reported later, never inside submit (see FileDisk.submit for why
// not through the I/O thread pool); the device makes sure conflicting requests are never
// in flight together (src/devices/disk.ts), and the log records the order in which
// completions were delivered, whatever it is.
import { OperatingError } from "../base/errors.js";
import { closeSync, fstatSync, openSync, readSync, writeSync, ftruncateSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import type { DiskGeometry, DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_STATUS, geometryProblem } from "../devices/disk.js";
import type { DiskBackend } from "../replay/world.js";

export const DISK_IMAGE_MAGIC = "FTVMDISK";
export const DISK_IMAGE_VERSION = 1;
/** Blocks start here; the header before them describes the image. */
export const DISK_IMAGE_HEADER_BYTES = 512;

/** A disk image that cannot be used: missing, not an image, or shorter than its header says. */
export class DiskImageError extends OperatingError {}

function encodeHeader(g: DiskGeometry): Uint8Array {
  const h = new Uint8Array(DISK_IMAGE_HEADER_BYTES);
  const v = new DataView(h.buffer);
  h.set(new TextEncoder().encode(DISK_IMAGE_MAGIC), 0);
  v.setUint32(8, DISK_IMAGE_VERSION, true);
  v.setUint32(12, g.blockBytes, true);
  v.setUint32(16, g.blocks, true);
  return h;
}

function decodeHeader(path: string, h: Uint8Array, fileBytes: number): DiskGeometry {
  if (h.length < DISK_IMAGE_HEADER_BYTES || new TextDecoder().decode(h.subarray(0, 8)) !== DISK_IMAGE_MAGIC)
    throw new DiskImageError(`${path} is not an ftvm disk image (make one with ftvm disk create)`);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const version = v.getUint32(8, true);
  if (version !== DISK_IMAGE_VERSION) throw new DiskImageError(`${path}: disk image version ${version}, expected ${DISK_IMAGE_VERSION}`);
  const g = { blockBytes: v.getUint32(12, true), blocks: v.getUint32(16, true) };
  const problem = geometryProblem(g);
  if (problem) throw new DiskImageError(`${path}: corrupt disk image header: ${problem}`);
  const want = DISK_IMAGE_HEADER_BYTES + g.blocks * g.blockBytes;
  if (fileBytes < want)
    throw new DiskImageError(`${path} is short: ${fileBytes} bytes, but ${g.blocks} blocks of ${g.blockBytes} bytes need ${want} (the image was truncated)`);
  return g;
}

/** Creates (or overwrites) an image of zeroed blocks; the file is sparse where the system allows. */
export function createDiskImage(path: string, g: DiskGeometry): void {
  const problem = geometryProblem(g);
  if (problem) throw new DiskImageError(`cannot create ${path}: ${problem}`);
  if (g.blocks === 0) throw new DiskImageError(`cannot create ${path}: a disk needs at least one block`);
  const fd = openSync(path, "w");
  try {
    const h = encodeHeader(g);
    writeSync(fd, h, 0, h.length, 0);
    ftruncateSync(fd, DISK_IMAGE_HEADER_BYTES + g.blocks * g.blockBytes);
  } finally {
    closeSync(fd);
  }
}

/** Reads an image's geometry, checking the header and that the file holds every block. */
export function readDiskGeometry(path: string): DiskGeometry {
  const fd = openSync(path, "r");
  try {
    const h = new Uint8Array(DISK_IMAGE_HEADER_BYTES);
    const n = readSync(fd, h, 0, h.length, 0);
    return decodeHeader(path, h.subarray(0, n), fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

/** Reads blocks synchronously (for checkers and tests, not for guests). */
export function readDiskBlocks(path: string, g: DiskGeometry, block: number, count: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(count * g.blockBytes);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, DISK_IMAGE_HEADER_BYTES + block * g.blockBytes + off);
      if (n === 0) throw new DiskImageError(`${path} ends inside block ${block + Math.floor(off / g.blockBytes)}`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** The back-end of a live run: requests become positional reads and writes on the image. */
export class FileDisk implements DiskBackend {
  private inFlightCount = 0;
  private idle: (() => void) | undefined;
  /** The last host I/O error (a request completed with DISK_E_IO), for messages. */
  lastError: Error | undefined;

  private constructor(
    readonly path: string,
    readonly geometry: DiskGeometry,
    private readonly file: FileHandle,
    /** Called after each completion was handed over, so a sleeping run loop wakes. */
    private readonly onSettled: () => void,
  ) {}

  /** Opens an image for reading and writing, or only for reading (a host's direct reads of a shared disk, see diskclient.ts). */
  static async open(path: string, onSettled: () => void = () => undefined, readOnly = false): Promise<FileDisk> {
    const geometry = readDiskGeometry(path);
    return new FileDisk(path, geometry, await open(path, readOnly ? "r" : "r+"), onSettled);
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /**
   * Performs the request at once (perform) and reports it from setImmediate: later than
   * submit, as the interface promises (a caller may count the request in flight after
   * submitting it), and after one turn of the event loop. Through the I/O thread pool
   * (fs.promises, as before) each request cost two thread hand-overs: on the 2-core
   * development machine a loop of 512-byte reads took 25-37 µs per read that way against
   * 3-17 µs with readSync, and 167-257 µs against 51-64 µs in a low-priority process
   * beside other work (load average 34, 2026-12-07); a plain diskmix run spent 1055-1162
   * ms of CPU so, 579-630 ms now. An FT primary paid it on every request of its own disk
   * and on every direct read of a shared one.
   *
   * Why not a microtask, which would be sooner still: a run loop that waits for the
   * completion would then be woken without the event loop ever turning, so a guest that
   * does one disk request after another would keep the host from reading its sockets,
   * timers and signals for as long as it did so (a primary's acknowledgements and
   * heartbeats, Ctrl-C in a plain run). One turn per request costs a few microseconds.
   *
   * The cost of performing at once is that the host's thread waits for the file:
   * microseconds from the page cache (an image is a local file, a request at most
   * DISK_REQUEST_BYTES_MAX bytes), longer only when the page cache must go to the device,
   * as the disk server and a replaying backup already accept.
   */
  submit(req: DiskRequest, done: (status: number, data?: Uint8Array) => void): void {
    this.inFlightCount++;
    const r = this.perform(req);
    setImmediate(() => this.settle(() => done(r.status, r.data)));
  }

  /**
   * Performs a request at once with positional reads and writes (see DiskBackend.perform).
   * A request is at most DISK_REQUEST_BYTES_MAX bytes of an image that is a local file, so
   * this takes microseconds from the page cache; through the I/O thread pool a request
   * cost two thread hand-overs, which on a busy machine were hundreds of microseconds.
   */
  perform(req: DiskRequest): { status: number; data?: Uint8Array } {
    try {
      return { status: DISK_STATUS.OK, data: this.performSync(req) };
    } catch (e) {
      this.lastError = e as Error;
      return { status: DISK_STATUS.E_IO };
    }
  }

  private performSync(req: DiskRequest): Uint8Array | undefined {
    const bs = this.geometry.blockBytes;
    const pos = DISK_IMAGE_HEADER_BYTES + req.block * bs;
    const len = req.count * bs;
    const fd = this.file.fd;
    if (req.op === DISK_READ) {
      const buf = new Uint8Array(len);
      for (let off = 0; off < len; ) {
        const n = readSync(fd, buf, off, len - off, pos + off);
        if (n === 0) throw new Error(`${this.path} ends inside block ${req.block + Math.floor(off / bs)}`);
        off += n;
      }
      return buf;
    }
    const data = req.data!;
    for (let off = 0; off < len; ) off += writeSync(fd, data, off, len - off, pos + off);
    return undefined;
  }

  /** Waits for every submitted request to finish, then closes the image. */
  async close(): Promise<void> {
    if (this.inFlightCount > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.file.close();
  }

  private settle(report: () => void): void {
    this.inFlightCount--;
    report();
    this.onSettled();
    if (this.inFlightCount === 0) this.idle?.();
  }
}
