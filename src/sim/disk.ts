// The shared disk in the simulator: a server playing the role src/host/disksrv.ts plays for
// real (it owns the image, fences writes by epoch, runs overlapping requests one at a time
// in arrival order), each request taking a latency drawn from the seed, so completions come
// back in any order; and the reference: a failure-free run of the same disk guest, whose
// image and output every faulty run is checked against.
//
// Connections, as disksrv.ts and diskclient.ts: each host's client talks to the server over
// a connection (numbered by `gen`); when it resets, answers still on their way are lost,
// requests still on the wire never arrive, and the client reconnects and sends every
// unanswered request again with the same id. A re-sent request that is still queued or
// in flight is not performed again (its answer goes to the new connection); one already
// performed is performed again (a write puts the same bytes there: the device never issued
// a conflicting request after it, its completion was never delivered).
//
// Fencing, as disksrv.ts: the server remembers the highest epoch any request carried and
// refuses a write from an older epoch on arrival (the writer's client reports it and its
// host halts as deposed, FtNode.onDiskFenced). A write accepted before a newer epoch was
// seen is part of the old epoch's history: a newer request to the same block queues
// behind it. The messages carry the request's seq (the device's identity of a request)
// only so that the checks can tell which write of the guest reached the disk; the server
// never looks at it.
import { Bus } from "../devices/bus.js";
import type { DiskGeometry } from "../devices/disk.js";
import { DISK_READ, DISK_STATUS, DISK_WRITE } from "../devices/disk.js";
import { LiveEnv } from "../replay/live.js";
import { MemoryDisk } from "../replay/memdisk.js";
import { LiveRunner } from "../replay/session.js";
import { Machine } from "../vm/machine.js";
import type { DiskGuestParams } from "./guest.js";
import { diskGeometry, diskGuestImage } from "./guest.js";
import { Prng } from "./prng.js";

/** A disk request on the wire (host → server), as DiskClient sends it, plus the seq for the checks. */
export interface DiskWireReq {
  id: number;
  host: string;
  /** The client's connection it was sent on. */
  gen: number;
  epoch: number;
  op: number;
  block: number;
  count: number;
  data?: Uint8Array;
  /** For the checks only (the real protocol has no such field). */
  seq: number;
}

/** The server's answer (server → host). */
export type DiskWireAns = { t: "done"; id: number; status: number; data?: Uint8Array } | { t: "refused"; id: number; reason: string; epoch: number };

export interface DiskWriteFact {
  t: number;
  host: string;
  epoch: number;
  seq: number;
  block: number;
  data: Uint8Array;
}

/** What the disk saw, for the checks. */
export interface DiskFacts {
  geometry: DiskGeometry;
  /** Writes performed on the image, in order. */
  writes: DiskWriteFact[];
  /** Writes accepted on arrival although the server had seen a newer epoch (only a broken server does this). */
  staleAccepted: { t: number; host: string; epoch: number; serverEpoch: number; seq: number }[];
  refused: number;
  reads: number;
  /** Re-sent requests the server joined to the one still queued or in flight (not performed again). */
  joined: number;
  image: Uint8Array;
  reference: DiskReference;
  /** Non-shared disks: each host had its own image (HostFacts.diskImageAtDone, diskImageAtLive); there is no server and `image` is empty. */
  local?: { backupReads: boolean };
}

interface Job {
  req: DiskWireReq;
  started: boolean;
}

export class SimDiskServer {
  readonly image: Uint8Array;
  /** The highest epoch any request carried. */
  epoch = 0;
  private jobs: Job[] = [];
  readonly writes: DiskWriteFact[] = [];
  readonly staleAccepted: DiskFacts["staleAccepted"] = [];
  refused = 0;
  reads = 0;
  joined = 0;
  /** Each host's newest connection: requests from an older one were on a connection that reset. */
  private readonly conns = new Map<string, number>();

  constructor(
    readonly geometry: DiskGeometry,
    private readonly rng: Prng,
    private readonly latency: { loMs: number; hiMs: number; slowChance: number; slowMs: number },
    /** Schedules the completion of a started request. */
    private readonly at: (t: number, label: string, fire: () => void) => void,
    private readonly now: () => number,
    /** Sends an answer back to the host, on its connection `gen`. */
    private readonly answer: (host: string, gen: number, a: DiskWireAns) => void,
    private readonly log: (text: string) => void,
    /** The disk-unfenced mutation: stale writes are performed. */
    private readonly unfenced = false,
  ) {
    this.image = new Uint8Array(geometry.blocks * geometry.blockBytes);
  }

  arrive(r: DiskWireReq): void {
    const conn = this.conns.get(r.host) ?? 0;
    if (r.gen < conn) return; // sent on a connection that has reset since
    this.conns.set(r.host, r.gen);
    const same = this.jobs.find((j) => j.req.host === r.host && j.req.id === r.id);
    if (same) {
      // A re-sent request (the client reconnected): answer on the newest connection, perform it once.
      same.req.gen = r.gen;
      this.joined++;
      this.log(`disk joins ${r.host}'s re-sent request #${r.id} (seq ${r.seq}) to the one ${same.started ? "in flight" : "queued"}`);
      return;
    }
    if (r.epoch > this.epoch) this.epoch = r.epoch;
    if (r.op === DISK_WRITE && r.epoch < this.epoch) {
      if (!this.unfenced) {
        this.refused++;
        const reason = `write from epoch ${r.epoch}, the disk has seen epoch ${this.epoch}`;
        this.log(`disk refuses ${r.host}'s write of seq ${r.seq} to block ${r.block}: ${reason}`);
        this.answer(r.host, r.gen, { t: "refused", id: r.id, reason, epoch: this.epoch });
        return;
      }
      this.staleAccepted.push({ t: this.now(), host: r.host, epoch: r.epoch, serverEpoch: this.epoch, seq: r.seq });
      this.log(`MUTATION disk-unfenced: accepts ${r.host}'s write of seq ${r.seq} from epoch ${r.epoch} (seen ${this.epoch})`);
    }
    this.jobs.push({ req: r, started: false });
    this.pump();
  }

  /** Starts every queued request that overlaps no earlier one (a write with anything on the same blocks). */
  private pump(): void {
    for (let i = 0; i < this.jobs.length; i++) {
      const j = this.jobs[i];
      if (j.started || this.jobs.slice(0, i).some((e) => overlaps(e.req, j.req))) continue;
      j.started = true;
      const l = this.latency;
      const ms = this.rng.chance(l.slowChance) ? this.rng.range(l.hiMs, l.slowMs) : this.rng.range(l.loMs, l.hiMs);
      this.at(this.now() + ms, `disk completes ${j.req.host}#${j.req.id}`, () => this.complete(j));
    }
  }

  private complete(j: Job): void {
    this.jobs = this.jobs.filter((x) => x !== j);
    const r = j.req;
    const bs = this.geometry.blockBytes;
    const at = r.block * bs;
    const len = r.count * bs;
    if (r.op === DISK_READ) {
      this.reads++;
      this.answer(r.host, r.gen, { t: "done", id: r.id, status: DISK_STATUS.OK, data: this.image.slice(at, at + len) });
    } else {
      this.image.set(r.data!, at);
      this.writes.push({ t: this.now(), host: r.host, epoch: r.epoch, seq: r.seq, block: r.block, data: r.data! });
      this.log(`disk writes ${r.host}'s seq ${r.seq} to block ${r.block} (epoch ${r.epoch})`);
      this.answer(r.host, r.gen, { t: "done", id: r.id, status: DISK_STATUS.OK });
    }
    this.pump();
  }
}

function overlaps(a: DiskWireReq, b: DiskWireReq): boolean {
  return a.block < b.block + b.count && b.block < a.block + a.count && (a.op === DISK_WRITE || b.op === DISK_WRITE);
}

// ---- the failure-free reference run ---------------------------------------------------

export interface DiskReference {
  image: Uint8Array;
  /** The guest's whole console output. */
  output: Uint8Array;
  /** Every write the guest started, by seq: its block and bytes. */
  writes: Map<number, { block: number; data: Uint8Array }>;
}

/** Completions per step at most: the reference completes a seeded random choice of the in-flight requests. */
const REFERENCE_STEPS_MAX = 1_000_000;
const references = new Map<string, DiskReference>();

/**
 * Runs the disk guest alone on an in-memory disk whose requests complete in a seeded random
 * order (no FT, no faults) and returns its image, output and writes. The guest's writes and
 * output do not depend on the order, the timing or RAND, so this is the one result every
 * complete execution must reach.
 */
export function diskReference(p: DiskGuestParams): DiskReference {
  const key = `${p.records}/${p.recordBlocks}/${p.window}/${p.readEvery}`;
  const cached = references.get(key);
  if (cached) return cached;
  const geometry = diskGeometry(p);
  const machine = new Machine(diskGuestImage(p), { memBytes: 64 * 1024, stackBytes: 4 * 1024 });
  const bus = new Bus(machine, undefined as never, { disk: geometry });
  const disk = new MemoryDisk(geometry);
  const rng = new Prng(0x5eed);
  let t = 0;
  const env = new LiveEnv(bus, { hostId: 1, nowUs: () => (t += 10), random32: () => rng.next(), disk }, () => undefined);
  bus.env = env;
  const runner = new LiveRunner(bus, env, { sliceIcount: 500 });
  const out: number[] = [];
  const writes = new Map<number, { block: number; data: Uint8Array }>();
  let seen = 0;
  for (let i = 0; ; i++) {
    if (i >= REFERENCE_STEPS_MAX) throw new Error(`sim: the disk guest's reference run did not finish in ${REFERENCE_STEPS_MAX} steps`);
    const r = runner.step();
    for (const b of bus.console.drainOutput()) out.push(b);
    for (; seen < disk.submitted.length; seen++) {
      const q = disk.submitted[seen];
      if (q.op === DISK_WRITE) writes.set(q.seq, { block: q.block, data: q.data! });
    }
    if (r === "halted" || r === "trapped") {
      if (r === "trapped") throw new Error(`sim: the disk guest trapped in its reference run: ${machine.trap?.kind}`);
      break;
    }
    if (disk.inFlight > 0 && (r === "waiting" || rng.chance(0.5))) disk.completeSome(rng.int(1, disk.inFlight), (n) => rng.int(0, n - 1));
    else if (r === "waiting" && disk.inFlight === 0 && !env.hasPending()) throw new Error("sim: the disk guest waits with nothing outstanding in its reference run");
  }
  const ref = { image: disk.bytes.slice(), output: Uint8Array.from(out), writes };
  references.set(key, ref);
  return ref;
}
