// The virtual switch's server shell: the real TCP port clients connect to (one address
// across failovers), and a channel server the FT hosts connect to. It feeds the pure
// Switch (src/net/switch.ts) what happens on both sides and carries out its effects. It
// runs inside the `ftvm ft` launcher, outside both hosts' failure domain, like the console
// sink. A host that announces itself as primary is checked with the arbiter first: only
// the holder of the current epoch is forwarded input.
//
// Cluster: the switch belongs to one cluster (given, or learned from its arbiter's first
// answer, or from the first host that announces itself when it has no arbiter). Hosts
// whose announcements or output carry another cluster id are refused with
// {t:"wrong-cluster", reason}; an arbiter of another cluster (one that lost its state) is
// refused too, so no host is taken as primary on its word.
//
// Limits: input a client sent that the primary has not made durable is bounded by
// SWITCH_CONN_INPUT_BYTES_MAX (reading pauses long before, at SWITCH_PAUSE_BYTES; only a
// client that ignores TCP flow control overflows). Replies a client leaves unread are
// watched per client exactly as in a plain run (src/host/reply-backlog.ts): past
// CONN_OUTPUT_PAUSE_BYTES the client is slowed (its socket is not read and the switch
// holds its input back from the guest), past CONN_OUTPUT_BYTES_MAX, or when it reads
// nothing for CONN_OUTPUT_STALL_MS, it is disconnected. Either way only that client
// waits or goes: the switch consumes every host's output at once, and tells the hosts
// how far it was written even when it was discarded, so nothing it shares with other
// clients (the primary's held output, the backup's kept copy) fills up.
import type { AddressInfo, Server as TcpServer, Socket } from "node:net";
import { createServer } from "node:net";
import type { Arbiter } from "../arbiter/api.js";
import { WrongClusterError } from "../arbiter/client.js";
import { openArbiter } from "../arbiter/open.js";
import type { InputMark, NicReport, OutChunk } from "../net/switch.js";
import { Switch } from "../net/switch.js";
import type { Channel, Server } from "../transport/channel.js";
import { listen } from "../transport/channel.js";
import { ReplyBacklog } from "./reply-backlog.js";
import { SWITCH_SERVICE } from "./switch-link.js";

/** How often hosts hear how far output was written (backups forget what they kept). */
const WRITTEN_INTERVAL_MS = 20;
/** Attempts, and the pause between them, to check an announcing host with the arbiter. */
const ARBITER_CHECK_TRIES = 50;
const ARBITER_RETRY_MS = 100;

export interface SwitchServerOptions {
  secret: string;
  /** The client-facing TCP address. */
  host?: string;
  port: number;
  /** Where hosts connect (default 127.0.0.1, an unused port). */
  hostsHost?: string;
  hostsPort?: number;
  /** The arbiter that says which host holds the current epoch (no check without it). */
  arbiterUrl?: string;
  /** The cluster this switch serves (`ftvm ft` passes its arbiter's); without it, learned from the arbiter. */
  cluster?: string;
  log: (line: string) => void;
}

export class SwitchServer {
  readonly sw: Switch;
  /** Where hosts connect (ws://...). */
  url = "";
  private hostServer?: Server;
  private readonly clients: (Socket | undefined)[];
  private readonly backlogs: (ReplyBacklog | undefined)[];
  /** Clients whose socket is not read because the switch retains too much of their input. */
  private readonly paused = new Set<number>();
  private readonly hostOf = new Map<Channel, string>();
  /** Every host channel (backups too: they hear the written marks). */
  private readonly channels = new Set<Channel>();
  private primaryCh?: Channel;
  private pumpScheduled = false;
  private timer?: NodeJS.Timeout;
  private arbiter?: Arbiter;
  /** Without an arbiter: the cluster learned from the first announcement. */
  private ownCluster?: string;
  /** Announcements and output refused because they came from another cluster. */
  refusedCluster = 0;

  private constructor(
    private readonly tcp: TcpServer,
    private readonly o: SwitchServerOptions,
  ) {
    this.sw = new Switch({
      write: (id, bytes) => this.backlogs[id]?.write(bytes),
      end: (id) => this.backlogs[id]?.end(),
      destroy: (id) => {
        this.backlogs[id]?.stop();
        this.clients[id]?.destroy();
      },
      log: o.log,
    });
    this.clients = new Array<Socket | undefined>(this.sw.connsMax);
    this.backlogs = new Array<ReplyBacklog | undefined>(this.sw.connsMax);
    if (o.arbiterUrl) this.arbiter = openArbiter(o.arbiterUrl, o.secret, o.cluster);
    else this.ownCluster = o.cluster;
    tcp.on("connection", (s) => this.accept(s));
  }

  static async start(o: SwitchServerOptions): Promise<SwitchServer> {
    const tcp = createServer({ allowHalfOpen: true });
    const srv = new SwitchServer(tcp, o);
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", (e: Error) => reject(new Error(`cannot listen on ${o.host ?? "127.0.0.1"}:${o.port}: ${e.message}`)));
      tcp.listen(o.port, o.host ?? "127.0.0.1", () => {
        tcp.removeAllListeners("error");
        tcp.on("error", (e) => o.log(`switch: server error: ${e.message}`));
        resolve();
      });
    });
    try {
      srv.hostServer = await listen({ host: o.hostsHost, port: o.hostsPort ?? 0, secret: o.secret, service: SWITCH_SERVICE, log: o.log, onChannel: (ch) => srv.attach(ch) });
    } catch (e) {
      tcp.close();
      throw e;
    }
    srv.url = srv.hostServer.url;
    srv.timer = setInterval(() => srv.broadcastWritten(), WRITTEN_INTERVAL_MS);
    return srv;
  }

  /** The client-facing address actually bound. */
  address(): { host: string; port: number } {
    const a = this.tcp.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Nobody can serve any more: clients are dropped and new ones refused. */
  serviceLost(reason: string): void {
    this.sw.serviceLost(reason);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const s of this.clients) s?.destroy();
    this.arbiter?.close();
    await Promise.all([new Promise<void>((r) => this.tcp.close(() => r())), this.hostServer?.close()]);
  }

  // ---- clients ---------------------------------------------------------------------

  private accept(s: Socket): void {
    const r = this.sw.open();
    if ("refused" in r) {
      this.o.log(`switch: refused ${peerOf(s)}: ${r.refused}`);
      s.destroy();
      return;
    }
    const id = r.conn;
    this.clients[id] = s;
    this.paused.delete(id);
    s.setNoDelay(true);
    const mine = () => this.clients[id] === s;
    const peer = peerOf(s);
    const backlog = new ReplyBacklog(s, {
      slowed: () => {
        if (!mine()) return;
        this.sw.hold(id, true);
        s.pause();
      },
      resumed: () => {
        if (!mine()) return;
        this.sw.hold(id, false);
        if (!this.paused.has(id)) s.resume();
        this.schedulePump();
      },
      disconnect: (why) => {
        // After the guest closed it the switch may have freed the id: the socket still goes.
        if (!mine() || !this.sw.disconnect(id, why, peer)) this.o.log(`switch: ${peer} (connection ${id}) ${why}; disconnected`);
        s.destroy();
        this.schedulePump();
      },
    });
    this.backlogs[id] = backlog;
    s.on("data", (chunk: Buffer) => {
      if (!mine()) return;
      // The socket's chunk itself (a Buffer is a Uint8Array): Node gives every read a
      // fresh buffer, so the switch may keep it until the primary makes it durable.
      const v = this.sw.data(id, chunk, peer);
      if (v === "pause") {
        this.paused.add(id);
        s.pause();
      }
      this.schedulePump();
    });
    const ended = () => {
      if (!mine()) return;
      this.sw.end(id);
      this.schedulePump();
    };
    s.on("end", ended);
    s.on("close", ended);
    s.on("error", ended);
    this.schedulePump();
  }

  // ---- hosts -----------------------------------------------------------------------

  private attach(ch: Channel): void {
    // Messages are handled one after another: an announcement (checked with the arbiter,
    // asynchronously) must take effect before the output and acknowledgements after it.
    this.channels.add(ch);
    let chain = Promise.resolve();
    ch.on("message", (m) => {
      chain = chain.then(() => this.onHostMessage(ch, m)).catch((e: Error) => this.o.log(`switch: ${e.message}`));
    });
    ch.on("close", () => {
      this.channels.delete(ch);
      this.hostOf.delete(ch);
      // Only the primary's channel matters: an older channel of the same host closing late
      // must not stop input to it on its new one.
      if (this.primaryCh === ch) {
        this.sw.hostGone(this.sw.primary ?? "");
        this.primaryCh = undefined;
        this.o.log(`switch: the primary's channel closed; holding input until the next primary announces itself`);
      }
    });
  }

  /** The cluster this switch serves, once known. */
  get cluster(): string | undefined {
    return this.arbiter ? this.arbiter.cluster : this.ownCluster;
  }

  /**
   * Undefined when `theirs` is this switch's cluster; "unknown" while the switch has not
   * learned its cluster (its arbiter unreachable so far); otherwise why not. The cluster is
   * learned from the arbiter, or without one from the first host.
   */
  private async clusterProblem(host: unknown, theirs: unknown): Promise<string | undefined> {
    if (this.cluster === undefined && this.arbiter) {
      try {
        await this.arbiter.state();
      } catch {
        // Unreachable for now: the host announces itself again later.
      }
    }
    if (this.cluster === undefined && !this.arbiter && typeof theirs === "string") this.ownCluster = theirs;
    if (this.cluster === undefined) return "unknown";
    if (theirs === this.cluster) return undefined;
    this.refusedCluster++;
    return `${host === undefined ? "an unannounced host" : `host ${String(host)}`} belongs to cluster ${String(theirs ?? "(none given)")}, this switch to cluster ${this.cluster}`;
  }

  private async onHostMessage(ch: Channel, m: { t: string; [k: string]: unknown }): Promise<void> {
    if (m.t === "live" || m.t === "net-out") {
      const why = await this.clusterProblem(m.t === "live" ? m.host : this.hostOf.get(ch), m.cluster);
      if (why === "unknown") {
        if (m.t === "live") ch.send({ t: "live-refused", reason: "the switch does not know its cluster yet (its arbiter is unreachable)" });
        return;
      }
      if (why) {
        this.o.log(`switch: refused ${m.t === "live" ? "an announcement" : "output"}: ${why}`);
        return ch.send({ t: "wrong-cluster", reason: why });
      }
    }
    switch (m.t) {
      case "live": {
        if (typeof m.host !== "string" || !Number.isSafeInteger(m.epoch) || !Array.isArray(m.nic) || !Array.isArray(m.durable)) return ch.send({ t: "live-refused", reason: "live needs host, epoch, nic and durable" });
        const host = m.host;
        const epoch = m.epoch as number;
        this.hostOf.set(ch, host);
        const why = await this.checkWithArbiter(host, epoch);
        if (why) {
          this.o.log(`switch: refused ${host} as primary of epoch ${epoch}: ${why}`);
          return ch.send({ t: "live-refused", reason: why });
        }
        // The primary announcing itself on a new channel (the old one not closed yet, as far
        // as the switch knows) reset its queue: it is a new primary, given its input again
        // from what its NIC has.
        if (this.primaryCh && this.primaryCh !== ch && this.sw.primary === host) this.sw.hostGone(host);
        const wasPrimary = this.sw.primary;
        const r = this.sw.live(host, epoch, m.nic as NicReport[], m.durable as InputMark[]);
        if (!r.ok) {
          this.o.log(`switch: refused ${host} as primary of epoch ${epoch}: ${r.reason}`);
          return ch.send({ t: "live-refused", reason: r.reason });
        }
        if (this.primaryCh && this.primaryCh !== ch) this.hostOf.delete(this.primaryCh);
        this.primaryCh = ch;
        if (wasPrimary !== host) this.o.log(`switch: forwarding input to ${host}, primary of epoch ${epoch}${r.redelivered > 0 ? `; re-delivering ${r.redelivered} bytes` : ""}`);
        this.resumeReading();
        this.schedulePump();
        return;
      }
      case "net-out": {
        if (!Number.isSafeInteger(m.epoch) || !Array.isArray(m.chunks)) return;
        const diverged = this.sw.stats.diverged;
        if (!this.sw.output(m.epoch as number, m.chunks as OutChunk[])) ch.send({ t: "out-refused", epoch: this.sw.epoch });
        else if (this.sw.stats.diverged > diverged) {
          this.o.log(`switch: host ${this.hostOf.get(ch) ?? "(unannounced)"} sent output that diverges; it is told and halts`);
          ch.send({ t: "out-refused", diverged: true, reason: this.sw.lastDivergence });
        }
        this.schedulePump();
        return;
      }
      case "net-ack": {
        const host = this.hostOf.get(ch);
        if (host === undefined || !Array.isArray(m.marks)) return;
        this.sw.ack(host, m.marks as InputMark[]);
        this.resumeReading();
        this.schedulePump();
        return;
      }
    }
  }

  /** Undefined when the arbiter says `host` holds `epoch` (or a later one); otherwise why not. */
  private async checkWithArbiter(host: string, epoch: number): Promise<string | undefined> {
    if (!this.arbiter) return undefined;
    let last = "";
    for (let i = 0; i < ARBITER_CHECK_TRIES; i++) {
      try {
        const s = await this.arbiter.state();
        if (s.holder !== host) return `the arbiter's epoch ${s.epoch} is held by ${s.holder}`;
        if (s.epoch < epoch) return `the arbiter is at epoch ${s.epoch}`;
        return undefined;
      } catch (e) {
        if (e instanceof WrongClusterError) return e.message;
        last = (e as Error).message;
        await new Promise((r) => setTimeout(r, ARBITER_RETRY_MS));
      }
    }
    return `the arbiter could not be asked (${last})`;
  }

  private resumeReading(): void {
    for (const id of this.paused) {
      if (!this.sw.resumable(id)) continue;
      this.paused.delete(id);
      // A client slowed for its unread replies stays unread until it reads them.
      if (!this.sw.isHeld(id)) this.clients[id]?.resume();
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      const ch = this.primaryCh;
      if (!ch) return;
      for (;;) {
        const events = this.sw.forward();
        if (events.length === 0) break;
        ch.send({ t: "in", events });
      }
    });
  }

  private broadcastWritten(): void {
    if (!this.sw.takeWrittenChanged()) return;
    const marks = this.sw.writtenMarks();
    for (const ch of this.channels) ch.send({ t: "net-written", marks });
  }
}

function peerOf(s: Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}
