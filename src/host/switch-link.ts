// An FT host's connection to the virtual switch (src/host/switch-server.ts). The node
// stays pure; this link carries its network traffic:
// - while the node is live it announces itself with its epoch and, on a new channel, its
//   NIC state (the switch re-delivers each connection's input from there); again whenever
//   its epoch changes (a backup paired, or it went on alone);
// - input the switch forwards goes into a NetQueue, the primary's World.net;
// - released NIC chunks (the node's "net-out" actions) go to the switch;
// - how far input is durable (logged and acknowledged, or logged when alone) goes to the
//   switch, which then forgets it;
// - the switch's "written" marks let a backup forget output it kept for re-sending.
import type { NetChunk } from "../devices/nic.js";
import type { Action, FtNode } from "../ft/node.js";
import { durableLsn, nicReport, toOutChunks } from "../ft/netgate.js";
import { NetQueue } from "../net/queue.js";
import type { InputEvent, WrittenMark } from "../net/switch.js";
import type { Channel } from "../transport/channel.js";
import { connect, log } from "../transport/channel.js";

/**
 * The service name doubles as the protocol's version: "/2" added the cluster id to
 * announcements and output, "/3" the durable input marks to announcements.
 */
export const SWITCH_SERVICE = "ftvm-switch/3";
/** Between attempts to reach the switch. */
const RECONNECT_MS = 100;
/** Output bytes per message to the switch (well under the channel's MESSAGE_BYTES_MAX). */
const OUTPUT_MESSAGE_BYTES_MAX = 1024 * 1024;
/** A refused announcement is repeated after this long. */
const ANNOUNCE_RETRY_MS = 500;

export class SwitchLink {
  /** The primary's network input (its World.net). */
  readonly queue = new NetQueue();
  private ch?: Channel;
  /** The epoch announced on the current channel (-1: not announced on it, or to be announced again). */
  private announced = -1;
  /** Nothing was announced on the current channel yet: the first announcement starts input afresh. */
  private fresh = true;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly hostId: string,
    private readonly node: () => FtNode,
    private readonly poke: () => void,
    /** This host's cluster (sent with announcements and output). */
    private readonly cluster: () => string,
    /** The switch refused this host for good (another cluster, or output that diverged): the host halts. */
    private readonly onRefused: (reason: string) => void = () => undefined,
  ) {}

  async connect(): Promise<void> {
    for (;;) {
      try {
        const ch = await connect(this.url, this.secret, SWITCH_SERVICE);
        ch.on("message", (m) => this.onMessage(ch, m));
        ch.on("close", () => {
          if (this.ch !== ch) return;
          this.ch = undefined;
          if (!this.stopped) setTimeout(() => void this.connect(), RECONNECT_MS);
        });
        this.ch = ch;
        this.announced = -1;
        this.fresh = true;
        this.sync();
        return;
      } catch (e) {
        if (this.stopped) return;
        log(`virtual switch unreachable (${(e as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, RECONNECT_MS));
      }
    }
  }

  close(): void {
    this.stopped = true;
    this.ch?.close("host finished");
  }

  private onMessage(ch: Channel, m: { t: string; [k: string]: unknown }): void {
    if (ch !== this.ch) return;
    switch (m.t) {
      case "in": {
        // Only a host that announced itself on this channel is forwarded input.
        if (this.announced < 0 || !Array.isArray(m.events)) return;
        for (const e of m.events as InputEvent[]) {
          if (!Array.isArray(e) || !this.queue.push(e[0], e[1], e[2])) {
            log(`virtual switch: input event refused (malformed, or more than the queue holds); reconnecting`);
            ch.terminate();
            return;
          }
        }
        this.poke();
        return;
      }
      case "net-written":
        if (Array.isArray(m.marks)) this.node().net.trim(m.marks as WrittenMark[]);
        this.poke();
        return;
      case "wrong-cluster":
        return this.onRefused(`the virtual switch refused this host: ${String(m.reason)}`);
      case "out-refused":
        if (m.diverged === true) this.onRefused(`the virtual switch refused this host's output: ${String(m.reason)}`);
        return;
      case "live-refused":
        // The arbiter may not have been reachable, or this host is deposed (then it halts
        // soon): announce again in a while. The switch forwarded nothing to it meanwhile.
        log(`virtual switch refused this host as primary: ${String(m.reason)}`);
        setTimeout(() => {
          if (this.ch !== ch) return;
          this.announced = -1;
          this.sync();
        }, ANNOUNCE_RETRY_MS);
        return;
    }
  }

  private isLive(): boolean {
    const r = this.node().role;
    return r === "primary" || r === "alone" || r === "finishing";
  }

  /** Announces the node when it is live in a new epoch, and reports durable input. Call after every node step. */
  sync(): void {
    const ch = this.ch;
    if (!ch) return;
    const node = this.node();
    if (!this.isLive()) return;
    if (node.epoch !== this.announced) {
      const fresh = this.fresh;
      if (fresh) {
        // A new channel: the switch forwards from what the NIC holds, so what waited here
        // goes. What is durable stays the node's to say (NetGate started tracking when the
        // node went live): a new channel makes nothing durable.
        this.queue.reset();
        this.fresh = false;
      }
      // The NIC report and the durable marks matter when the switch takes this host as a
      // new primary (it re-delivers from the NIC and forgets only what is durable).
      ch.send({ t: "live", host: this.hostId, cluster: this.cluster(), epoch: node.epoch, nic: nicReport(node.bus.nic), durable: node.net.announceMarks() });
      this.announced = node.epoch;
      // Output released while there was no channel went nowhere, and a channel that broke
      // may have lost what was sent on it; the node keeps released output until the switch
      // reports it written, so it goes again (the switch drops what it has). Without this
      // the switch waits for those bytes forever and drops every later chunk of the
      // connection (found by the network simulator: ftvm sim --net --seed 19).
      if (fresh) this.send(node.epoch, node.net.keptChunks());
    }
    const marks = node.net.durableThrough(durableLsn(node.role, node.plog?.ackedLsn));
    if (marks.length > 0) ch.send({ t: "net-ack", epoch: node.epoch, marks });
  }

  /** The switch channel, to cork around a batch of actions (see Channel.cork); undefined while there is none. */
  get channel(): Channel | undefined {
    return this.ch;
  }

  /** Released network output. */
  output(a: Extract<Action, { kind: "net-out" }>): void {
    this.sync();
    this.send(a.epoch, a.chunks);
  }

  private send(epoch: number, netChunks: readonly NetChunk[]): void {
    const chunks = toOutChunks(netChunks);
    for (let i = 0; i < chunks.length; ) {
      let bytes = 0;
      let j = i;
      while (j < chunks.length && (j === i || bytes + chunks[j][3].length <= OUTPUT_MESSAGE_BYTES_MAX)) bytes += chunks[j++][3].length;
      this.ch?.send({ t: "net-out", cluster: this.cluster(), epoch, chunks: chunks.slice(i, j) });
      i = j;
    }
  }
}

