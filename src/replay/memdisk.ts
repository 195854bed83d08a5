// An in-memory disk back-end for tests and the simulator: requests wait until the caller
// completes them, in an order the caller picks (a seeded random order, say), so record →
// replay equality can be checked against every completion order a real disk could produce.
import type { DiskGeometry, DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_STATUS } from "../devices/disk.js";
import type { DiskBackend } from "./world.js";

interface Pending {
  req: DiskRequest;
  done: (status: number, data?: Uint8Array) => void;
}

export class MemoryDisk implements DiskBackend {
  readonly bytes: Uint8Array;
  private pending: Pending[] = [];
  /** Requests submitted so far, in submission order (tests check issue order with it). */
  readonly submitted: DiskRequest[] = [];
  /** Seqs to fail with DISK_E_IO instead of performing them. */
  readonly failSeqs = new Set<number>();

  constructor(
    readonly geometry: DiskGeometry,
    image?: Uint8Array,
  ) {
    const size = geometry.blocks * geometry.blockBytes;
    this.bytes = new Uint8Array(size);
    if (image) this.bytes.set(image.subarray(0, size));
  }

  submit(req: DiskRequest, done: (status: number, data?: Uint8Array) => void): void {
    this.submitted.push(req);
    this.pending.push({ req, done });
  }

  get inFlight(): number {
    return this.pending.length;
  }

  /** Completes the in-flight request at position `index` (in submission order). */
  complete(index: number): void {
    const [p] = this.pending.splice(index, 1);
    if (!p) throw new RangeError(`memdisk: no in-flight request at ${index}`);
    const { req } = p;
    if (this.failSeqs.has(req.seq)) return p.done(DISK_STATUS.E_IO);
    const at = req.block * this.geometry.blockBytes;
    const len = req.count * this.geometry.blockBytes;
    if (req.op === DISK_READ) p.done(DISK_STATUS.OK, this.bytes.slice(at, at + len));
    else {
      this.bytes.set(req.data!, at);
      p.done(DISK_STATUS.OK);
    }
  }

  /** Completes up to n in-flight requests, each chosen by pick(inFlight) (e.g. a seeded random index). */
  completeSome(n: number, pick: (inFlight: number) => number): number {
    let k = 0;
    for (; k < n && this.pending.length > 0; k++) this.complete(pick(this.pending.length));
    return k;
  }
}
