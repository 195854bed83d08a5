// A host's own disk in non-shared runs: an in-memory image that only its host reaches, as
// the FileDisk on --disk-image is for a real host. Each request takes a latency drawn from
// the seed, so completions come back in any order; a write's bytes land on the image when
// the request completes (a read returns the image as it is then), whether or not the host
// is busy: its process hears of it when its slice ends. A crashed host's image is gone
// with it: requests in flight never complete.
//
// Planned errors (plan.disk.local.errors): while its host replays (backup, joining,
// draining), its nth request (retries count) fails with DISK_E_IO, and so do the next
// `times - 1` attempts at the same request; a persistent error fails every attempt. And
// while it is live, its nth read of its image for a clone fails likewise (cloneReadErrors).
import type { DiskGeometry, DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_STATUS } from "../devices/disk.js";
import type { DiskBackend } from "../replay/world.js";
import type { LocalDiskError, LocalDiskPlan } from "./plan.js";
import type { Prng } from "./prng.js";

export interface LocalDiskHooks {
  /** The host's clock now (inside a slice it advances with the instructions executed). */
  now(): number;
  /** The host is replaying (its requests may fail as planned). */
  replaying(): boolean;
  /** Schedules something at time t (it does not run if the host crashed meanwhile). */
  at(t: number, label: string, fire: () => void): void;
  /** Hands a completion to the host's process (waits for its slice; dropped if it died). */
  deliver(label: string, fn: () => void): void;
  log(text: string): void;
  /** A write or read was submitted while the host is live (for crash triggers). */
  submitted(req: DiskRequest): void;
}

export class SimLocalDisk implements DiskBackend {
  readonly image: Uint8Array;
  inFlight = 0;
  requests = 0;
  /** Requests submitted while replaying (the planned errors count these). */
  replayRequests = 0;
  errors = 0;
  /** A persistent error was injected (the host must halt as diverged, not go on). */
  broken = false;
  private readonly failing = new Map<string, number>();
  /** Reads of the image for a clone while live (the planned clone-read errors count these). */
  cloneReadRequests = 0;

  constructor(
    readonly host: string,
    readonly geometry: DiskGeometry,
    private readonly plan: LocalDiskPlan,
    private readonly planned: LocalDiskError[],
    private readonly cloneReads: LocalDiskError[],
    private readonly rng: Prng,
    private readonly hooks: LocalDiskHooks,
    /** A respawned host's image: garbage until the clone's chunks land (nothing may read it before). */
    garbage?: Prng,
  ) {
    this.image = new Uint8Array(geometry.blocks * geometry.blockBytes);
    if (garbage) for (let i = 0; i < this.image.length; i++) this.image[i] = garbage.next() & 0xff;
  }

  submit(req: DiskRequest, done: (status: number, data?: Uint8Array) => void): void {
    this.requests++;
    const fail = this.hooks.replaying() ? this.plannedError(req, this.planned, "replay") : req.slot < 0 && req.op === DISK_READ ? this.plannedError(req, this.cloneReads, "clone") : false;
    if (!this.hooks.replaying()) this.hooks.submitted(req);
    const l = this.plan.latency;
    const ms = this.rng.chance(l.slowChance) ? this.rng.range(l.hiMs, l.slowMs) : this.rng.range(l.loMs, l.hiMs);
    this.inFlight++;
    const what = `${req.op === DISK_READ ? "read" : "write"} ${req.seq ? `seq ${req.seq}` : "(image range)"} blocks ${req.block}..${req.block + req.count - 1}`;
    this.hooks.at(this.hooks.now() + ms, `local disk ${this.host}`, () => {
      const bs = this.geometry.blockBytes;
      const at = req.block * bs;
      let data: Uint8Array | undefined;
      if (!fail) {
        if (req.op === DISK_READ) data = this.image.slice(at, at + req.count * bs);
        else this.image.set(req.data!, at);
      }
      this.hooks.log(`${this.host} own disk ${fail ? "FAILS" : "completes"} ${what}`);
      this.hooks.deliver(`local disk done ${this.host}`, () => {
        this.inFlight--;
        if (fail) done(DISK_STATUS.E_IO);
        else done(DISK_STATUS.OK, data);
      });
    });
  }

  /** Whether this request (submitted while replaying) fails as planned. */
  private plannedError(req: DiskRequest, planned: LocalDiskError[], kind: "replay" | "clone"): boolean {
    const key = `${req.op}/${req.block}/${req.count}/${req.seq}`;
    const left = this.failing.get(key);
    if (left !== undefined) {
      // The retry after a transient error's last failure succeeds (another planned error
      // does not land on it: that would be a persistent one).
      if (left === 0) {
        this.failing.delete(key);
        return false;
      }
      this.failing.set(key, left - 1);
      this.errors++;
      return true;
    }
    const n = kind === "replay" ? ++this.replayRequests : ++this.cloneReadRequests;
    const e = planned.find((x) => x.nth === n);
    if (!e) return false;
    this.failing.set(key, e.persistent ? Infinity : e.times - 1);
    if (e.persistent && kind === "replay") this.broken = true;
    this.errors++;
    return true;
  }
}
