// The network path under seeds: an FT pair running programs/redis.s, the pure virtual
// switch (src/net/switch.ts) between simulated clients (./netclients.ts) and the live
// primary, the node's NetGate and the guest's NIC, all on the simulated clock and links of
// ./net.ts with the faults of ./netplan.ts (crashes, an isolated primary, a split pair,
// partitions, resets of switch channels and client connections).
//
// The shells are small and mirror the real ones: each host's link to the switch behaves
// as src/host/switch-link.ts (announce "live" with the NIC report when live in a new
// epoch; on a new channel the queue is reset and input tracking starts from the NIC;
// released chunks go out as "net-out"; durable input as "net-ack"; "net-written" trims a
// backup's kept output), and the switch's side as src/host/switch-server.ts (a "live"
// announcement is checked with the arbiter first; input is forwarded only to the primary's
// channel; written marks go to every host every WRITTEN_INTERVAL_MS). The host's own
// shell follows ./sim.ts (a run() slice costs simulated time by the instructions it ran,
// inputs wait for the slice, a crash inside a slice loses its actions), and the log
// channel's resume goes through the same handshake code (src/ft/handshake.ts).
//
// Checks (./netchecks.ts): each connection's replies come once and in order (no reply
// without a request, none missing at the end while a primary serves), the switch never
// takes output of an older epoch than one it has seen, nor output that diverges, and the
// clients' history is linearizable. Everything random comes from the seed; the
// fingerprint hashes the event trace, so a seed replays exactly.
import type { NodeIo } from "../ft/driver.js";
import { join } from "node:path";
import type { ArbiterState, TasRequest } from "../arbiter/core.js";
import { initialState, testAndSet } from "../arbiter/core.js";
import { assembleFile } from "../asm/assembler.js";
import { REPO_ROOT } from "../asm/include.js";
import { firstEpochRequest, onFirstEpochAnswer, resumeAnswerProblem } from "../ft/handshake.js";
import { durableLsn, nicReport, toOutChunks } from "../ft/netgate.js";
import type { Action, Msg } from "../ft/node.js";
import { FtNode, ProtocolError } from "../ft/node.js";
import { parsePeerMsg } from "../ft/protocol.js";
import { NetQueue } from "../net/queue.js";
import type { InputEvent, InputMark, NicReport, OutChunk, SwitchIo, WrittenMark } from "../net/switch.js";
import { Switch } from "../net/switch.js";
import type { Image } from "../vm/image.js";
import { type NetFacts, checkNetRun } from "./netchecks.js";
import { type ClientConn, SimClient } from "./netclients.js";
import { type NetPlan, describeNetPlan, makeNetPlan } from "./netplan.js";
import { Net } from "./net.js";
import { Prng } from "./prng.js";
import { HostShell, ShellHost, notAccepted } from "./host-shell.js";

/**
 * Deliberately broken switches, each to be caught by the checks within a few seeds:
 * - switch-no-redelivery: a new primary is not given again the input its guest never got
 *   (the switch goes on from what the client sent, as if the NIC had it all);
 * - switch-no-dedup: output a new primary re-sends is written to the client again;
 * - switch-unfenced: output of an older epoch is taken like the current one's.
 */
export const NET_MUTATIONS = ["switch-no-redelivery", "switch-no-dedup", "switch-unfenced"] as const;
export type NetMutation = (typeof NET_MUTATIONS)[number];

/** The run's cluster (the arbiter's and both hosts'). */
const CLUSTER = "c1";
/** As src/host/switch-server.ts: how often hosts hear how far output was written. */
const WRITTEN_INTERVAL_MS = 20;
/** As src/host/switch-link.ts: between attempts to reach the switch, and after a refused announcement. */
const SWITCH_RECONNECT_MS = 100;
const ANNOUNCE_RETRY_MS = 500;
/** The guest's memory (redis.s keeps 4 MiB of input buffers and a heap above its image). */
const REDIS_MEM_BYTES = 8 * 1024 * 1024;

export interface NetSimOptions {
  verbose?: boolean;
  mutation?: NetMutation;
}

export interface NetSimStats {
  endMs: number;
  endReason: "clients-done" | "cap";
  events: number;
  instructions: number;
  ops: number;
  replies: number;
  unanswered: number;
  failovers: number;
  aloneWins: number;
  crashes: number;
  halts: number;
  elections: number;
  switchResets: number;
  clientResets: number;
  resumes: number;
  /** Backups that joined a host running alone, and of them those whose primary then won the pair's epoch. */
  clones: number;
  clonesPaired: number;
  /** From the switch: input re-delivered after a change of primary, duplicates dropped, stale output refused. */
  redeliveredBytes: number;
  duplicateBytes: number;
  staleRefused: number;
  /** net-out messages that reached the switch with an epoch older than one it had seen. */
  staleOutputs: number;
}

export interface NetSimResult {
  seed: number;
  ok: boolean;
  failures: string[];
  stats: NetSimStats;
  fingerprint: string;
  trace: string[];
  plan: string;
  replay: string;
}

export function netReplayCommand(seed: number, mutation?: NetMutation): string {
  return `npx ftvm sim --net --seed ${seed}${mutation ? ` --mutation ${mutation}` : ""}`;
}

let redisImage: Image | undefined;
/** programs/redis.s, assembled once per process. */
export function redisGuestImage(): Image {
  redisImage ??= assembleFile(join(REPO_ROOT, "programs", "redis.s"));
  return redisImage;
}

export function simulateNet(seed: number, opts: NetSimOptions = {}): NetSimResult {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`sim: the seed must be an integer, got ${seed}`);
  const root = new Prng(seed ^ 0x6e657400);
  const plan = makeNetPlan(seed, root.fork("net plan"));
  const sim = new NetSimulation(plan, root, opts);
  sim.run();
  const failures = checkNetRun(sim.facts());
  return { seed, ok: failures.length === 0, failures, stats: sim.stats(), fingerprint: sim.fingerprint(), trace: sim.trace, plan: describeNetPlan(plan), replay: netReplayCommand(seed, opts.mutation) };
}

// ---- the broken switches ---------------------------------------------------------------

class NoRedeliverySwitch extends Switch {
  override live(host: string, epoch: number, nic: readonly NicReport[], durable: readonly InputMark[]) {
    // Claims the guest got everything the client sent: the switch resumes from there.
    return super.live(host, epoch, nic.map(([c, g, s]) => [c, g, s, Number.MAX_SAFE_INTEGER] as NicReport), durable);
  }
}

class NoDedupSwitch extends Switch {
  constructor(private readonly out: SwitchIo) {
    super(out);
  }
  override output(epoch: number, chunks: readonly OutChunk[]): boolean {
    if (epoch >= this.epoch) {
      const marks = new Map(this.writtenMarks().map((m) => [m[0], m]));
      for (const [conn, gen, offset, bytes] of chunks) {
        const m = marks.get(conn);
        // Re-sent bytes below the written offset go to the client again.
        if (m && m[1] === gen && m[3] === 0 && offset < m[2]) this.out.write(conn, bytes.subarray(0, Math.min(bytes.length, m[2] - offset)));
      }
    }
    return super.output(epoch, chunks);
  }
}

class UnfencedSwitch extends Switch {
  override output(epoch: number, chunks: readonly OutChunk[]): boolean {
    return super.output(Math.max(epoch, this.epoch), chunks);
  }
}

// ---- the shells --------------------------------------------------------------------------

type HostId = "P" | "B" | "C";
const LIVE = new Set(["primary", "alone", "finishing"]);

/** The log channel between the two hosts (a resume opens a new one). */
class PeerChan {
  readonly open = new Set<NetHost>();
  constructor(
    readonly n: number,
    readonly a: NetHost,
    readonly b: NetHost,
  ) {}
  other(h: NetHost): NetHost {
    return h === this.a ? this.b : this.a;
  }
}

/** A host's channel to the switch; each side closes on its own. */
class SwChan {
  hostOpen = true;
  switchOpen = true;
  /** The host announced on it (switch-server's hostOf). */
  announcedHost: string | undefined;
  constructor(
    readonly n: number,
    readonly host: NetHost,
  ) {}
}

class NetHost extends ShellHost {
  readonly node: FtNode;
  readonly usPerInstr: number;
  readonly queue = new NetQueue();
  /** A joined backup: the icount it was cloned at. */
  clonedAt: number | undefined;
  peer: PeerChan | undefined;
  resuming: PeerChan | undefined;
  sw: SwChan | undefined;
  /** As SwitchLink: the epoch announced on the current channel (-1: none yet), and whether the channel is new. */
  announced = -1;
  fresh = true;

  constructor(
    readonly id: HostId,
    readonly sim: NetSimulation,
    rng: Prng,
    hostNumber: number,
  ) {
    super(id, sim);
    const p = sim.plan;
    this.usPerInstr = p.usPerInstr[id];
    this.node = new FtNode({
      id,
      heartbeatMs: p.heartbeatMs,
      timeoutMs: p.timeoutMs,
      sliceIcount: p.sliceIcount,
      world: { hostId: hostNumber, nowUs: () => this.clockMs() * 1000, random32: () => rng.next(), net: this.queue },
    });
  }
}

/** A client connection as the switch's server sees it. */
interface SwClient {
  client: SimClient;
  conn: ClientConn;
}

export class NetSimulation extends HostShell<NetHost> {
  readonly net: Net;
  readonly hosts: Partial<Record<HostId, NetHost>> & { P: NetHost; B: NetHost };
  readonly clients: SimClient[];
  arbiter: ArbiterState = initialState(CLUSTER);
  readonly sw: Switch;
  private primaryCh: SwChan | undefined;
  private readonly swChans = new Set<SwChan>();
  private readonly byConn = new Map<number, SwClient>();
  private pumpScheduled = false;
  private chans = 0;
  private endReason: NetSimStats["endReason"] = "cap";
  private readonly rng: Prng;
  private readonly worldRng: Prng;
  /** The newest epoch the switch has seen (from announcements it took and output it took), tracked here, not read from it. */
  private switchEpoch = 0;
  private readonly violations: string[] = [];
  private cloneSpawned = false;
  private readonly counts = { clones: 0, clonesPaired: 0, failovers: 0, aloneWins: 0, crashes: 0, halts: 0, elections: 0, switchResets: 0, clientResets: 0, resumes: 0, staleOutputs: 0 };

  constructor(
    readonly plan: NetPlan,
    root: Prng,
    readonly opts: NetSimOptions,
  ) {
    super(plan, opts.verbose === true, false);
    this.rng = root.fork("shell");
    this.worldRng = root;
    this.net = new Net(plan.links, root.fork("net"));
    this.hosts = { P: new NetHost("P", this, root.fork("world P"), 0x5001), B: new NetHost("B", this, root.fork("world B"), 0x5002) };
    this.clients = plan.clients.map((cp, i) => new SimClient(i, cp));
    const io: SwitchIo = {
      write: (conn, bytes) => this.toClient(conn, { bytes: bytes.slice() }),
      end: (conn) => this.toClient(conn, { end: "guest-closed" }),
      destroy: (conn) => this.toClient(conn, { end: "destroyed" }),
      log: (line) => this.log(line),
    };
    const m = opts.mutation;
    this.sw = m === "switch-no-redelivery" ? new NoRedeliverySwitch(io) : m === "switch-no-dedup" ? new NoDedupSwitch(io) : m === "switch-unfenced" ? new UnfencedSwitch(io) : new Switch(io);
  }

  // ---- the run -------------------------------------------------------------------------

  run(): void {
    const p = this.plan;
    const { P, B } = this.hosts;
    this.log(`plan: ${describeNetPlan(p)}`);
    const ch = new PeerChan(++this.chans, P, B);
    ch.open.add(P).add(B);
    P.peer = B.peer = ch;
    this.connectSwitch(P);
    this.connectSwitch(B);
    const req = firstEpochRequest(this.arbiter.epoch, "P", "B");
    const r = testAndSet(this.arbiter, req);
    this.arbiter = r.state;
    this.call(P, "startPrimary", () => onFirstEpochAnswer(P.node, req, r.result, { program: "redis.s", image: redisGuestImage(), memBytes: REDIS_MEM_BYTES }, this.now).actions);
    P.started = true;
    this.startTicks(P);
    this.scheduleRun(P, 0);
    const f = p.fault;
    if (f.kind === "crash") {
      const h = this.hosts[f.host];
      this.at(f.atMs, `crash ${h.id}`, () => this.crash(h, `crash planned at ${f.atMs.toFixed(3)} ms`, f.closeOnCrash));
    }
    for (const r of p.switchResets) this.at(r.atMs, `switch reset ${r.host}`, () => this.resetSwitchChan(this.hosts[r.host]));
    for (const c of this.clients) {
      this.at(c.plan.startMs, `client ${c.id} connects`, () => this.clientConnect(c));
      for (const t of c.plan.resets) this.at(t, `client ${c.id} resets`, () => this.clientReset(c));
    }
    const written = (t: number): void =>
      this.at(t, "written marks", () => {
        this.broadcastWritten();
        written(t + WRITTEN_INTERVAL_MS);
      });
    written(WRITTEN_INTERVAL_MS);
    if (this.runEvents(() => p.capMs, () => this.clients.every((c) => c.done)) === "done") this.endReason = "clients-done";
    this.log(`end (${this.endReason})`);
  }

  facts(): NetFacts {
    const live = (["P", "B", "C"] as const).filter((id) => this.hosts[id]?.up && LIVE.has(this.hosts[id]!.node.role));
    return {
      plan: this.plan,
      mutation: this.opts.mutation,
      endMs: this.now,
      endReason: this.endReason,
      clients: this.clients,
      violations: this.violations,
      liveAtEnd: live,
      switchPrimary: this.sw.primary,
      diverged: this.sw.stats.diverged,
    };
  }

  stats(): NetSimStats {
    const s = this.sw.stats;
    const entries = this.clients.flatMap((c) => c.history);
    return {
      endMs: Math.round(this.now * 1000) / 1000,
      endReason: this.endReason,
      events: this.events,
      instructions: this.hosts.P.node.machine.icount + this.hosts.B.node.machine.icount + (this.hosts.C?.clonedAt !== undefined ? this.hosts.C.node.machine.icount - this.hosts.C.clonedAt : 0),
      ops: entries.length,
      replies: entries.filter((e) => e.returnMs !== undefined).length,
      unanswered: entries.filter((e) => e.returnMs === undefined).length,
      ...this.counts,
      redeliveredBytes: s.redeliveredBytes,
      duplicateBytes: s.duplicateBytes,
      staleRefused: s.staleRefused,
    };
  }

  // ---- calling the node (./host-shell.ts's call) -----------------------------------------

  protected bug(h: NetHost, what: string, e: unknown): void {
    const err = e as Error;
    this.violations.push(`host ${h.id} threw in ${what} at ${this.now.toFixed(3)} ms: ${err?.message ?? String(e)}`);
    this.log(`${h.id} EXCEPTION in ${what}: ${err?.message}`);
    this.crash(h, `exception in ${what}`, true);
  }

  protected roleChanged(h: NetHost): boolean {
    const role = h.node.role;
    if (role === h.lastRole) return false;
    this.log(`${h.id} role ${h.lastRole} -> ${role} (epoch ${h.node.epoch})`);
    if (h.lastRole === "joining" && role === "backup") this.restored(h);
    h.lastRole = role;
    if (role === "alone") this.maybeClone(h);
    return false;
  }

  // ---- a backup joins a host running alone (FtHost.runBackup with --join) ----------------

  private maybeClone(src: NetHost): void {
    const c = this.plan.clone;
    if (!c || this.cloneSpawned || src.id === "C") return;
    this.cloneSpawned = true;
    this.at(this.now + c.delayMs, "spawn C", () => {
      if (!src.up || src.stopping || src.node.role !== "alone") return this.log(`C not started: ${src.id} is ${src.up ? src.node.role : "down"}`);
      const h = new NetHost("C", this, this.worldRng.fork("world C"), 0x5003);
      this.hosts.C = h;
      this.counts.clones++;
      this.connectSwitch(h);
      const ch = new PeerChan(++this.chans, h, src);
      ch.open.add(h);
      h.peer = ch;
      this.log(`C starts: joins ${src.id}`);
      const [t] = this.net.link("C", src.id).arrivals(this.now, true);
      this.at(t, `hello C>${src.id}`, () =>
        this.input(src, `hello C>${src.id}`, () => {
          if (!ch.open.has(h)) return;
          const v = this.hearHello(src, "C", CLUSTER, undefined, "acceptJoin");
          if (!v) return;
          if (v.kind !== "join") {
            this.log(`${src.id} refuses C: ${notAccepted(v)}`);
            ch.open.delete(h);
            return this.stop(h, "refused");
          }
          this.log(`${src.id} accepts C: cloning`);
          this.closePeer(src);
          src.peer = ch;
          ch.open.add(src);
        }),
      );
    });
  }

  private restored(h: NetHost): void {
    h.clonedAt = h.node.machine.icount;
  }

  /**
   * The primary C joined won the pair's epoch (C is a member: it may take over now). The
   * plan may crash it then; before that C could not win, and losing both hosts is the
   * service lost, not a bug.
   */
  private paired(src: NetHost): void {
    this.counts.clonesPaired++;
    const after = this.plan.clone?.crashAfterMs;
    if (after === undefined) return;
    this.at(this.now + after, `crash ${src.id}`, () => this.crash(src, `crash planned ${after.toFixed(3)} ms after pairing with C`, true));
  }

  /** The network simulation's side of the one driver (src/ft/driver.ts) for host h. */
  protected io(h: NetHost): NodeIo {
    // A batch that ends early (the host went down, halted or crashed) sends no link marks.
    let ended = false;
    return {
      before: () => {
        if (!h.up) ended = true;
        return h.up;
      },
      send: (msg) => this.sendPeer(h, msg),
      cut: (reason) => {
        this.log(`${h.id} cut: ${reason}`);
        this.closePeer(h);
        this.call(h, "onPeerClosed", () => h.node.onPeerClosed("terminated", this.now));
      },
      tas: (req) => this.tas(h, req),
      // The console (redis.s's "ready" line): the host's stdout, acknowledged at once.
      output: (a) => this.call(h, "onSinkAck", () => h.node.onSinkAck(a.offset + a.bytes.length)),
      netOut: (a) => this.linkOutput(h, a),
      news: (text, data) => {
        this.log(`${h.id} news: ${text}`);
        if (data.event === "live") this.counts.failovers++;
        if (data.event === "alone") this.counts.aloneWins++;
        if (data.event === "paired") this.paired(h);
      },
      done: () => {
        this.log(`${h.id} done`);
        this.stop(h, "guest finished");
      },
      halt: (reason, code, cause) => {
        this.log(`${h.id} halt (${code}, ${cause}): ${reason}`);
        this.counts.halts++;
        if (cause === "diverged") this.violations.push(`host ${h.id} halted: ${reason}`);
        this.stop(h, "halted");
        ended = true;
      },
      crash: (icount) => {
        this.crash(h, `crash at icount ${icount}`, true);
        ended = true;
      },
      reconnect: (lsn) => this.reconnect(h, lsn),
      // The link's marks once per batch, not after a halt or crash.
      after: () => {
        if (!ended) this.linkSync(h);
      },
    };
  }

  protected exited(h: NetHost): void {
    this.closePeer(h);
    this.closeSwitchChan(h, true);
  }

  private crash(h: NetHost, why: string, closeOnCrash: boolean): void {
    if (!h.up) return;
    h.up = false;
    this.counts.crashes++;
    this.log(`${h.id} CRASH: ${why}`);
    if (closeOnCrash) {
      this.closePeer(h);
      this.closeSwitchChan(h, true);
    } else {
      // A dead machine: nobody sees a close; its channels just go silent.
      h.peer?.open.delete(h);
      if (h.sw) h.sw.hostOpen = false;
    }
  }

  // ---- the log channel -----------------------------------------------------------------

  private sendPeer(h: NetHost, msg: Msg): void {
    const ch = h.peer;
    if (!ch || !ch.open.has(h)) return;
    const to = ch.other(h);
    const wire = this.net.encode(msg);
    if (msg.t !== "hb") this.log(`${h.id} -> ${to.id} ${msg.t}`);
    for (const t of this.net.link(h.id, to.id).arrivals(this.now)) this.at(t, `deliver ${h.id}>${to.id}`, () => this.input(to, `deliver ${h.id}>${to.id}`, () => this.deliverPeer(to, ch, wire)));
  }

  private deliverPeer(r: NetHost, ch: PeerChan, wire: Uint8Array): void {
    if (r.resuming === ch) return this.resumeAnswer(r, ch, this.net.decode<Msg>(wire));
    if (r.peer !== ch || !ch.open.has(r)) return;
    let msg: Msg;
    try {
      msg = parsePeerMsg(this.net.decode<{ t: string }>(wire));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.violations.push(`host ${r.id} refused a peer message: ${e.message}`);
      return;
    }
    if (!r.started) {
      this.call(r, "startBackup", () => r.node.startBackup(msg, this.now));
      if (!r.up) return;
      r.started = true;
      this.startTicks(r);
      return;
    }
    this.call(r, "onPeerMessage", () => r.node.onPeerMessage(msg, this.now));
  }

  /** This side closes the log channel; the other side sees the close a little later. */
  private closePeer(h: NetHost): void {
    const ch = h.peer;
    if (!ch || !ch.open.has(h)) return;
    ch.open.delete(h);
    const o = ch.other(h);
    for (const t of this.net.link(h.id, o.id).arrivals(this.now, true).slice(0, 1))
      this.at(t, `close ${h.id}>${o.id}`, () =>
        this.input(o, `close ${h.id}>${o.id}`, () => {
          if (o.peer !== ch || !ch.open.has(o)) return;
          ch.open.delete(o);
          this.log(`${o.id} sees the log channel close`);
          if (o.started) this.call(o, "onPeerClosed", () => o.node.onPeerClosed("closed by the peer", this.now));
        }),
      );
  }

  /** A paired backup whose channel closed asks its primary to resume (FtHost.reconnect). */
  private reconnect(h: NetHost, lsn: number): void {
    const src = h.peer?.other(h) ?? this.hosts.P;
    const ch = new PeerChan(++this.chans, h, src);
    ch.open.add(h);
    h.resuming = ch;
    this.log(`${h.id} reconnects to ${src.id} from lsn ${lsn}`);
    const [t] = this.net.link(h.id, src.id).arrivals(this.now, true);
    this.at(t, `resume hello ${h.id}>${src.id}`, () => {
      if (!src.up) {
        // A dead process's kernel refuses; a dead machine stays silent until the timeout.
        const back = src.stopping || this.plan.fault.kind !== "crash" || this.plan.fault.closeOnCrash ? this.now + 0.2 : this.now + this.plan.timeoutMs;
        this.at(back, `refused ${src.id}>${h.id}`, () =>
          this.input(h, `refused ${src.id}>${h.id}`, () => {
            if (h.resuming !== ch) return;
            h.resuming = undefined;
            this.call(h, "onReconnectFailed", () => h.node.onReconnectFailed(`${src.id} is gone`, this.now));
          }),
        );
        return;
      }
      this.input(src, `resume hello ${h.id}>${src.id}`, () => {
        const v = this.hearHello(src, h.id, CLUSTER, lsn, "acceptResume");
        if (!v) return;
        if (v.kind !== "resume") {
          const reason = notAccepted(v);
          this.log(`${src.id} refuses ${h.id}'s resume: ${reason}`);
          for (const t2 of this.net.link(src.id, h.id).arrivals(this.now, true).slice(0, 1))
            this.at(t2, `resume refused ${src.id}>${h.id}`, () =>
              this.input(h, "resume refused", () => {
                if (h.resuming !== ch) return;
                h.resuming = undefined;
                this.call(h, "onResumeRefused", () => h.node.onResumeRefused(reason, this.now));
              }),
            );
          return;
        }
        this.log(`${src.id} accepts ${h.id}'s resume from lsn ${lsn}`);
        this.closePeer(src);
        src.peer = ch;
        ch.open.add(src);
        this.roleChanged(src);
        this.exec(src, v.actions);
      });
    });
  }

  private resumeAnswer(h: NetHost, ch: PeerChan, msg: Msg): void {
    h.resuming = undefined;
    const problem = resumeAnswerProblem(msg);
    if (problem !== undefined) {
      ch.open.delete(h);
      this.call(h, "onReconnectFailed", () => h.node.onReconnectFailed(problem, this.now));
      return;
    }
    this.counts.resumes++;
    h.peer = ch;
    this.call(h, "onResumed", () => h.node.onResumed(this.now));
  }

  // ---- the arbiter ---------------------------------------------------------------------

  private tas(h: NetHost, req: TasRequest): void {
    this.counts.elections++;
    this.log(`${h.id} asks the arbiter for epoch ${req.epoch}`);
    const [t] = this.net.link(h.id, "A").arrivals(this.now, true);
    this.at(t, `tas ${h.id}`, () => {
      const r = testAndSet(this.arbiter, req);
      this.arbiter = r.state;
      this.log(`arbiter ${r.result.granted ? "grants" : "refuses"} epoch ${req.epoch} to ${h.id}`);
      const [t2] = this.net.link("A", h.id).arrivals(this.now, true);
      this.at(t2, `tas answer ${h.id}`, () => this.input(h, `tas answer ${h.id}`, () => this.call(h, "onTasResult", () => h.node.onTasResult(r.result, this.now))));
    });
  }

  // ---- the host's link to the switch (src/host/switch-link.ts) ----------------------------

  private connectSwitch(h: NetHost): void {
    const ch = new SwChan(++this.chans, h);
    h.sw = ch;
    h.announced = -1;
    h.fresh = true;
    this.swChans.add(ch);
    this.log(`${h.id} connects to the switch (channel ${ch.n})`);
    this.linkSync(h);
  }

  private resetSwitchChan(h: NetHost): void {
    if (!h.up || !h.sw) return;
    this.counts.switchResets++;
    this.log(`${h.id}'s switch channel ${h.sw.n} resets`);
    this.closeSwitchChan(h, false);
  }

  /** The host's switch channel closes: the switch sees it a little later; a running host connects again. */
  private closeSwitchChan(h: NetHost, exiting: boolean): void {
    const ch = h.sw;
    if (!ch || !ch.hostOpen) return;
    ch.hostOpen = false;
    h.sw = undefined;
    for (const t of this.net.link(h.id, "SW").arrivals(this.now, true).slice(0, 1)) this.at(t, `switch sees ${h.id} close`, () => this.switchChanClosed(ch));
    if (!exiting) this.at(this.now + SWITCH_RECONNECT_MS, `${h.id} reconnects to the switch`, () => this.input(h, "switch reconnect", () => this.connectSwitch(h)));
  }

  private sendSwitch(h: NetHost, m: Record<string, unknown> & { t: string }): void {
    const ch = h.sw;
    if (!ch || !ch.hostOpen) return;
    const wire = this.net.encode(m);
    for (const t of this.net.link(h.id, "SW").arrivals(this.now, true).slice(0, 1)) this.at(t, `${h.id}>SW ${m.t}`, () => this.onSwitchMessage(ch, this.net.decode(wire)));
  }

  /** Announces the node when live in a new epoch, and reports durable input (SwitchLink.sync). */
  private linkSync(h: NetHost): void {
    const ch = h.sw;
    if (!h.up || !ch || !ch.hostOpen || !h.started) return;
    const node = h.node;
    if (!LIVE.has(node.role)) return;
    if (node.epoch !== h.announced) {
      const fresh = h.fresh;
      if (fresh) {
        h.queue.reset();
        h.fresh = false;
      }
      this.log(`${h.id} announces itself live in epoch ${node.epoch}`);
      this.sendSwitch(h, { t: "live", host: h.id, epoch: node.epoch, nic: nicReport(node.bus.nic), durable: node.net.announceMarks() });
      h.announced = node.epoch;
      // On a new channel, output the switch may not have goes again (as SwitchLink.sync).
      const kept = node.net.keptChunks();
      if (fresh && kept.length > 0) this.sendSwitch(h, { t: "net-out", epoch: node.epoch, chunks: toOutChunks(kept) });
    }
    const marks = node.net.durableThrough(durableLsn(node.role, node.plog?.ackedLsn));
    if (marks.length > 0) this.sendSwitch(h, { t: "net-ack", epoch: node.epoch, marks });
  }

  private linkOutput(h: NetHost, a: Extract<Action, { kind: "net-out" }>): void {
    this.linkSync(h);
    this.sendSwitch(h, { t: "net-out", epoch: a.epoch, chunks: toOutChunks(a.chunks) });
  }

  private onSwitchToHost(h: NetHost, ch: SwChan, m: { t: string; [k: string]: unknown }): void {
    if (h.sw !== ch || !ch.hostOpen) return;
    switch (m.t) {
      case "in":
        if (h.announced < 0) return;
        for (const e of m.events as InputEvent[])
          if (!h.queue.push(e[0], e[1], e[2])) {
            this.violations.push(`host ${h.id}'s queue refused an input event from the switch`);
            return;
          }
        return;
      case "net-written":
        h.node.net.trim(m.marks as WrittenMark[]);
        return;
      case "live-refused":
        this.log(`${h.id} refused as primary: ${String(m.reason)}`);
        this.at(this.now + ANNOUNCE_RETRY_MS, `${h.id} announces again`, () =>
          this.input(h, "announce again", () => {
            if (h.sw !== ch) return;
            h.announced = -1;
            this.linkSync(h);
          }),
        );
        return;
      case "out-refused":
        this.log(`${h.id}'s output refused (the switch is at epoch ${String(m.epoch)})`);
        return;
    }
  }

  // ---- the switch's server (src/host/switch-server.ts) ------------------------------------

  private toHost(ch: SwChan, m: Record<string, unknown> & { t: string }): void {
    if (!ch.switchOpen) return;
    const h = ch.host;
    const wire = this.net.encode(m);
    for (const t of this.net.link("SW", h.id).arrivals(this.now, true).slice(0, 1)) this.at(t, `SW>${h.id} ${m.t}`, () => this.input(h, `SW>${h.id} ${m.t}`, () => this.onSwitchToHost(h, ch, this.net.decode(wire))));
  }

  private switchChanClosed(ch: SwChan): void {
    if (!ch.switchOpen) return;
    ch.switchOpen = false;
    this.swChans.delete(ch);
    if (this.primaryCh === ch) {
      this.sw.hostGone(this.sw.primary ?? "");
      this.primaryCh = undefined;
      this.log(`switch: the primary's channel closed; holding input`);
    }
  }

  private onSwitchMessage(ch: SwChan, m: { t: string; [k: string]: unknown }): void {
    if (!ch.switchOpen) return;
    switch (m.t) {
      case "live": {
        const host = m.host as string;
        const epoch = m.epoch as number;
        ch.announcedHost = host;
        // The switch asks the arbiter first: only the holder of the current epoch is taken.
        const a = this.arbiter;
        const why = a.holder !== host ? `the arbiter's epoch ${a.epoch} is held by ${a.holder}` : a.epoch < epoch ? `the arbiter is at epoch ${a.epoch}` : undefined;
        // As the server: the primary on a new channel (the old one not seen closed) is a new primary.
        if (!why && this.primaryCh && this.primaryCh !== ch && this.sw.primary === host) this.sw.hostGone(host);
        const r = why ? { ok: false as const, reason: why } : this.sw.live(host, epoch, m.nic as NicReport[], m.durable as InputMark[]);
        if (!r.ok) {
          this.log(`switch: refused ${host} as primary of epoch ${epoch}: ${r.reason}`);
          this.toHost(ch, { t: "live-refused", reason: r.reason });
          return;
        }
        this.switchEpoch = Math.max(this.switchEpoch, epoch);
        this.primaryCh = ch;
        this.log(`switch: forwarding to ${host}, primary of epoch ${epoch}${r.redelivered ? `; re-delivering ${r.redelivered} bytes` : ""}`);
        this.schedulePump();
        return;
      }
      case "net-out": {
        const epoch = m.epoch as number;
        const stale = epoch < this.switchEpoch;
        if (stale) this.counts.staleOutputs++;
        const diverged = this.sw.stats.diverged;
        const bytesBefore = this.sw.stats.bytesOut + this.sw.stats.discardedBytes;
        const took = this.sw.output(epoch, m.chunks as OutChunk[]);
        const wrote = this.sw.stats.bytesOut + this.sw.stats.discardedBytes - bytesBefore;
        if (stale && took) this.violations.push(`the switch took output of epoch ${epoch} at ${this.now.toFixed(3)} ms after it had seen epoch ${this.switchEpoch}${wrote > 0 ? ` and wrote ${wrote} bytes of it` : ""} (fencing)`);
        if (took) this.switchEpoch = Math.max(this.switchEpoch, epoch);
        if (!took) this.toHost(ch, { t: "out-refused", epoch: this.sw.epoch });
        if (this.sw.stats.diverged > diverged) this.violations.push(`switch: ${this.sw.lastDivergence}`);
        this.schedulePump();
        return;
      }
      case "net-ack": {
        if (ch.announcedHost === undefined) return;
        this.sw.ack(ch.announcedHost, m.marks as InputMark[]);
        this.schedulePump();
        return;
      }
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.at(this.now, "pump", () => {
      this.pumpScheduled = false;
      const ch = this.primaryCh;
      if (!ch) return;
      for (;;) {
        const events = this.sw.forward();
        if (events.length === 0) break;
        this.toHost(ch, { t: "in", events });
      }
    });
  }

  private broadcastWritten(): void {
    if (!this.sw.takeWrittenChanged()) return;
    const marks = this.sw.writtenMarks();
    for (const ch of this.swChans) this.toHost(ch, { t: "net-written", marks });
  }

  // ---- clients -------------------------------------------------------------------------

  private clientConnect(c: SimClient): void {
    const conn = c.openConn();
    this.log(`client ${c.id} opens connection ${conn.n}`);
    const [t] = this.net.link(`c${c.id}`, "SW").arrivals(this.now, true);
    this.at(t, `client ${c.id} syn`, () => {
      const r = this.sw.open();
      if ("refused" in r) {
        this.violations.push(`client ${c.id}: the switch refused a connection: ${r.refused}`);
        return;
      }
      conn.id = r.conn;
      this.byConn.set(r.conn, { client: c, conn });
      this.log(`switch: client ${c.id} connection ${conn.n} is id ${r.conn} generation ${r.gen}`);
      if (conn.aborted) this.sw.end(r.conn);
      this.schedulePump();
      const [t2] = this.net.link("SW", `c${c.id}`).arrivals(this.now, true);
      this.at(t2, `client ${c.id} established`, () => this.clientSend(c));
    });
  }

  private clientSend(c: SimClient): void {
    for (let req = c.nextRequest(this.now); req; req = c.nextRequest(this.now)) {
      const conn = c.conn!;
      const { bytes } = req;
      // A command may reach the switch in two pieces (TCP keeps no message boundaries).
      const cutAt = bytes.length > 4 && this.rng.chance(0.2) ? this.rng.int(1, bytes.length - 1) : bytes.length;
      for (const piece of cutAt < bytes.length ? [bytes.subarray(0, cutAt), bytes.subarray(cutAt)] : [bytes]) {
        const [t] = this.net.link(`c${c.id}`, "SW").arrivals(this.now, true);
        this.at(t, `client ${c.id} data`, () => {
          this.sw.data(conn.id!, piece);
          this.schedulePump();
        });
      }
    }
  }

  private clientReset(c: SimClient): void {
    if (c.done) return;
    const conn = c.abort();
    if (!conn) return;
    this.counts.clientResets++;
    this.log(`client ${c.id} aborts connection ${conn.n} with ${conn.outstanding.length} requests outstanding`);
    if (conn.id !== undefined) {
      const [t] = this.net.link(`c${c.id}`, "SW").arrivals(this.now, true);
      this.at(t, `client ${c.id} rst`, () => {
        this.sw.end(conn.id!);
        this.schedulePump();
      });
    }
    if (!c.checkDone()) this.at(this.now + 1, `client ${c.id} reconnects`, () => this.clientConnect(c));
  }

  private toClient(id: number, what: { bytes: Uint8Array } | { end: "guest-closed" | "destroyed" }): void {
    const sc = this.byConn.get(id);
    if (!sc) return;
    const { client, conn } = sc;
    for (const t of this.net.link("SW", `c${client.id}`).arrivals(this.now, true))
      this.at(t, `SW>c${client.id}`, () => {
        if (conn.aborted) return;
        if ("bytes" in what) {
          const n = client.receive(conn, what.bytes, this.now);
          if (n > 0) this.at(this.now + client.plan.thinkMs, `client ${client.id} thinks`, () => this.clientSend(client));
          return;
        }
        conn.ended = what.end;
        this.violations.push(`client ${client.id} connection ${conn.n}: ${what.end === "guest-closed" ? "the guest closed it" : "the switch dropped it"} at ${this.now.toFixed(3)} ms`);
        client.abort();
        if (!client.checkDone()) this.at(this.now + 1, `client ${client.id} reconnects`, () => this.clientConnect(client));
      });
  }
}
