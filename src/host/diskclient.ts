// A host's side of the shared disk (src/host/disksrv.ts): a DiskBackend that sends each
// request, with the submitting host's epoch, to the disk server and reports its answer.
// Requests stay here until answered; when the connection drops the client reconnects and
// sends every unanswered one again (a write performed twice writes the same bytes; the
// server performs a re-sent request that is still in flight only once). A write the
// server refuses as stale is not completed: the host hears of it through onFenced and
// halts as deposed.
//
// Direct reads (readImage: the same image file, when the host runs where the server's
// image is, as under `ftvm ft`): reads go straight to the file and only writes travel to
// the server. A read changes nothing, so it needs neither fencing nor the server's
// ordering, and it sees every write it must: the device issues a read only after every
// write it conflicts with has completed, and a write completes only once the server has
// performed it (a write copy of a deposed primary that reaches the server later is
// refused as stale, or was accepted before the newer epoch's requests and performed
// first). Each read skips two hops to the server and back, which were most of a
// read's time.
import { FileDisk } from "./disk.js";
import { randomBytes } from "node:crypto";
import type { DiskGeometry, DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_REQUESTS_MAX, DISK_STATUS } from "../devices/disk.js";
import type { DiskBackend } from "../replay/world.js";
import type { Channel, Msg } from "../transport/channel.js";
import { connect, log } from "../transport/channel.js";
import { DISK_SERVICE } from "./disksrv.js";

/** Pause between attempts to reach the disk server. */
const RECONNECT_DELAY_MS = 100;
/** How long the server may take to answer hello with the geometry. */
const GEOMETRY_TIMEOUT_MS = 5000;
/** Unanswered requests a client keeps: its device has DISK_REQUESTS_MAX slots, and a new primary re-issues at most those. */
const CLIENT_PENDING_MAX = 2 * DISK_REQUESTS_MAX;

/** The disk server cannot serve this host (another cluster; a read image that is not its image): no retry can help. */
export class DiskClusterError extends Error {}

interface Pending {
  msg: Msg;
  done: (status: number, data?: Uint8Array) => void;
}

export interface DiskClientOptions {
  /** This host's cluster: sent with the hello and every request (a disk server of another cluster refuses them). */
  cluster?: string;
  /** This host's id, for the server's reports. */
  host?: string;
  /** After each completion was handed over, so a sleeping run loop wakes. */
  onSettled?: () => void;
  /** The server refused a write of ours: a newer epoch has used the disk. */
  onFenced?: (reason: string, epoch: number) => void;
  /**
   * This host's epoch now. A write released in an epoch the host has since left for a newer
   * one it also holds (a primary whose cloned backup paired: the pair's epoch) may meet a
   * request of that newer epoch at the server, or be re-sent after one: it is refused as
   * stale, yet the host is not deposed. When the host's epoch is at least the server's, the
   * write goes again with it; only a host behind the server is fenced.
   */
  currentEpoch?: () => number;
  /** The shared disk's image file itself: reads go to it directly (see the top of this file). */
  readImage?: string;
}

export class DiskClient implements DiskBackend {
  private readonly clientId = randomBytes(6).toString("hex");
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private ch?: Channel;
  private closed = false;
  /** Counts for tests and the host's report. */
  resent = 0;
  refused = 0;
  /** Writes refused as stale that went again in this host's newer epoch. */
  renewed = 0;
  /** Reads performed on the image directly (readImage). */
  directReads = 0;
  /** The image opened read-only for direct reads. */
  private reader?: FileDisk;

  private constructor(
    readonly url: string,
    private readonly secret: string,
    readonly geometry: DiskGeometry,
    private readonly opts: DiskClientOptions,
  ) {}

  /** Connects (retrying for up to `patienceMs`) and learns the disk's geometry from the server. */
  static async open(url: string, secret: string, opts: DiskClientOptions = {}, patienceMs = 10_000): Promise<DiskClient> {
    const start = Date.now();
    for (;;) {
      try {
        const { ch, geometry } = await DiskClient.connectOnce(url, secret, opts);
        const c = new DiskClient(url, secret, geometry, opts);
        c.attach(ch);
        if (opts.readImage !== undefined) await c.openReader(opts.readImage);
        return c;
      } catch (e) {
        if (e instanceof DiskClusterError) throw e;
        if (Date.now() - start >= patienceMs) throw new Error(`the disk server at ${url} is unreachable: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
      }
    }
  }

  private static async connectOnce(url: string, secret: string, o: DiskClientOptions): Promise<{ ch: Channel; geometry: DiskGeometry }> {
    const ch = await connect(url, secret, DISK_SERVICE);
    const geometry = await new Promise<DiskGeometry>((resolve, reject) => {
      const timer = setTimeout(() => {
        ch.terminate();
        reject(new Error(`no geometry within ${GEOMETRY_TIMEOUT_MS} ms`));
      }, GEOMETRY_TIMEOUT_MS);
      ch.once("message", (m) => {
        clearTimeout(timer);
        if (m.t === "geometry" && Number.isSafeInteger(m.blocks) && Number.isSafeInteger(m.blockBytes)) resolve({ blocks: m.blocks as number, blockBytes: m.blockBytes as number });
        else if (m.t === "wrong-cluster") reject(new DiskClusterError(`the disk server at ${url} refused this host: ${String(m.reason)}`));
        else reject(new Error(`expected the disk's geometry, got "${m.t}"`));
      });
      ch.once("close", (_c, reason) => reject(new Error(`closed before sending the geometry (${reason})`)));
      ch.send({ t: "hello", ...(o.cluster !== undefined ? { cluster: o.cluster } : {}), ...(o.host !== undefined ? { host: o.host } : {}) });
    });
    return { ch, geometry };
  }

  /** Opens the image for direct reads, refusing one whose geometry is not the server's. */
  private async openReader(path: string): Promise<void> {
    let reader: FileDisk;
    try {
      reader = await FileDisk.open(path, () => this.opts.onSettled?.(), true);
    } catch (e) {
      this.close();
      throw new DiskClusterError(`--disk-read-image ${path}: ${(e as Error).message}`);
    }
    const g = reader.geometry;
    if (g.blocks !== this.geometry.blocks || g.blockBytes !== this.geometry.blockBytes) {
      await reader.close();
      this.close();
      throw new DiskClusterError(`--disk-read-image ${path} has ${g.blocks} blocks of ${g.blockBytes} bytes, but the disk server at ${this.url} serves ${this.geometry.blocks} of ${this.geometry.blockBytes}: not the same image`);
    }
    this.reader = reader;
  }

  get inFlight(): number {
    return this.pending.size + (this.reader?.inFlight ?? 0);
  }

  submit(req: DiskRequest, done: (status: number, data?: Uint8Array) => void, epoch = 0): void {
    if (this.reader && req.op === DISK_READ) {
      this.directReads++;
      this.reader.submit(req, done);
      return;
    }
    if (this.pending.size >= CLIENT_PENDING_MAX) throw new Error(`disk client: more than ${CLIENT_PENDING_MAX} requests unanswered`);
    const id = `${this.clientId}-${this.nextId++}`;
    // The seq (the device's identity of the request, the same on every host) lets the server compare a re-issued write with the one it performed.
    const msg: Msg = { t: "req", id, epoch, op: req.op, block: req.block, count: req.count, seq: req.seq };
    if (this.opts.cluster !== undefined) msg.cluster = this.opts.cluster;
    if (req.data) msg.data = req.data;
    this.pending.set(id, { msg, done });
    this.ch?.send(msg);
  }

  /** Requests sent until uncork() leave in one socket write (see DiskBackend.cork). Calls nest. */
  cork(): void {
    this.ch?.cork();
  }

  uncork(): void {
    this.ch?.uncork();
  }

  close(): void {
    this.closed = true;
    this.ch?.close("host finished");
    void this.reader?.close();
  }

  private attach(ch: Channel): void {
    this.ch = ch;
    ch.on("message", (m) => this.onMessage(m));
    ch.on("close", (_c, reason) => {
      if (this.ch !== ch) return;
      this.ch = undefined;
      if (this.closed) return;
      log(`disk server connection closed (${reason || "no reason"}); reconnecting`);
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    while (!this.closed) {
      try {
        const { ch, geometry } = await DiskClient.connectOnce(this.url, this.secret, this.opts);
        if (geometry.blocks !== this.geometry.blocks || geometry.blockBytes !== this.geometry.blockBytes) {
          ch.close("wrong disk");
          throw new Error(`the disk server now serves ${geometry.blocks} blocks of ${geometry.blockBytes} bytes, not ${this.geometry.blocks} of ${this.geometry.blockBytes}`);
        }
        this.attach(ch);
        // Everything unanswered goes again, in submission order (Map keeps insertion order).
        for (const p of this.pending.values()) {
          this.resent++;
          ch.send(p.msg);
        }
        return;
      } catch (e) {
        if (e instanceof DiskClusterError) {
          this.closed = true;
          this.opts.onFenced?.((e as Error).message, 0);
          return;
        }
        log(`disk server unreachable (${(e as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
      }
    }
  }

  private onMessage(m: Msg): void {
    const p = typeof m.id === "string" ? this.pending.get(m.id) : undefined;
    if (!p) return; // an answer to a request already answered (a re-sent one): nothing to do
    if (m.t === "refused") {
      const now = this.opts.currentEpoch?.();
      // A write that differs from the one the disk performed for the same request is no stale copy: it never goes again.
      if (m.diverged !== true && now !== undefined && now >= Number(m.epoch) && now > (p.msg.epoch as number)) {
        this.renewed++;
        p.msg.epoch = now;
        this.ch?.send(p.msg);
        return;
      }
      this.pending.delete(m.id as string);
      this.refused++;
      this.opts.onFenced?.(String(m.reason), Number(m.epoch));
      return;
    }
    this.pending.delete(m.id as string);
    if (m.t !== "done") return;
    const status = m.status === DISK_STATUS.OK ? DISK_STATUS.OK : DISK_STATUS.E_IO;
    p.done(status, status === DISK_STATUS.OK && m.data instanceof Uint8Array ? new Uint8Array(m.data) : undefined);
    this.opts.onSettled?.();
  }
}
