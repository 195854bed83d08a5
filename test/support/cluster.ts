// The tests' in-memory FT cluster: pure FtNodes joined by ordered in-memory channels,
// the arbiter's testAndSet and the sink's SinkState, advanced in rounds of 1 ms. One
// copy for every test that drives nodes directly (clones, shared and non-shared disks);
// the simulator (src/sim) is the randomized, timed version of the same shell.
//
// Messages cross the "wire" through the protocol's one parser (src/ft/protocol.ts), as
// they do between real hosts, so a test that tampers with a message in flight sees what
// a real receiver would.
import { expect } from "vitest";
import type { ArbiterState, TasRequest } from "../../src/arbiter/core.js";
import { initialState, testAndSet } from "../../src/arbiter/core.js";
import { type NodeIo, carryOut } from "../../src/ft/driver.js";
import { firstEpochRequest, onFirstEpochAnswer } from "../../src/ft/handshake.js";
import type { Action, Msg, NodeConfig, StartPrimary } from "../../src/ft/node.js";
import { FtNode } from "../../src/ft/node.js";
import { parsePeerMsg } from "../../src/ft/protocol.js";
import { SinkState } from "../../src/ft/sink.js";
import { fakeWorld } from "../../src/replay/world.js";
import { memDigest, regsDigest } from "../../src/vm/digest.js";

export interface TestClusterOptions {
  /** Seeds rand() (used by tests for disk completions and the like). */
  seed?: number;
  /** Extra configuration for every node (per node id). */
  nodeConfig?: (id: string) => Partial<NodeConfig>;
  /** run() calls per node per round while it has work (a replaying backup takes one event per run, as the host's loop calls again while busy). */
  runsPerRound?: number;
  /** Called at the end of every round (e.g. disks complete some requests). */
  afterRound?: (c: TestCluster) => void;
  /** A halt also closes the host's channel, so its peer sees it (as a real exiting process). Default: the host just stops. */
  haltClosesChannel?: boolean;
}

export class TestCluster {
  arbiter: ArbiterState = initialState();
  sink = new SinkState();
  out: Uint8Array[] = [];
  gaps: string[] = [];
  nowMs = 0;
  nodes = new Map<string, FtNode>();
  /** Ordered channels: messages in flight to each node. */
  inbox = new Map<string, Msg[]>();
  peerOf = new Map<string, string>();
  dead = new Set<string>();
  news: { host: string; data: Record<string, unknown>; text: string }[] = [];
  halts: { host: string; reason: string }[] = [];
  /** Primary's state digests when it sent a clone (the boundary S). */
  cloneDigests: { regs: string; mem: string; icount: number }[] = [];
  /** Changes a message on its way (to test what the receiver checks). */
  tamper?: (m: Msg) => void;
  /** Sees every message a node sends (for counting log bytes and the like). */
  onSend?: (from: string, m: Msg) => void;
  /** Nodes that do not run (a stalled process): their inbox fills, they neither tick nor run. */
  stalled = new Set<string>();
  /** Crash actions the nodes asked for (icount each). */
  crashes: { host: string; icount: number }[] = [];
  /** The sink's delivered count whenever an arbiter grant included two members. */
  pairGrants: { epoch: number; delivered: number }[] = [];
  /** When set, arbiter requests wait here until the test answers them (answerTas). */
  deferTas?: { id: string; req: TasRequest }[];
  private s: number;

  constructor(readonly o: TestClusterOptions = {}) {
    this.s = (o.seed ?? 1) >>> 0 || 1;
  }

  /** xorshift32: deterministic choices for a test. */
  rand(n: number): number {
    this.s ^= this.s << 13;
    this.s >>>= 0;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5;
    this.s >>>= 0;
    return this.s % n;
  }

  add(id: string, seed: number, cfg: Partial<NodeConfig> = {}): FtNode {
    const n = new FtNode({ id, heartbeatMs: 25, timeoutMs: 150, world: fakeWorld(seed, seed, 20), sliceIcount: 3000, ...this.o.nodeConfig?.(id), ...cfg });
    this.nodes.set(id, n);
    this.inbox.set(id, []);
    return n;
  }

  /** Carries out a node's actions (the shell's part, through the one driver). */
  exec(id: string, actions: Action[]): void {
    carryOut(actions, this.io(id));
  }

  /** This cluster's side of the one driver (src/ft/driver.ts) for node `id`. */
  private io(id: string): NodeIo {
    const n = this.nodes.get(id)!;
    return {
      before: () => !this.dead.has(id),
      send: (msg) => {
        this.onSend?.(id, msg);
        const to = this.peerOf.get(id);
        this.tamper?.(msg);
        if (to && !this.dead.has(to)) this.inbox.get(to)!.push(msg);
        if (msg.t === "clone") this.cloneDigests.push({ regs: regsDigest(n.machine), mem: memDigest(n.machine), icount: n.machine.icount });
      },
      cut: () => undefined,
      tas: (req) => {
        if (this.deferTas) this.deferTas.push({ id, req });
        else this.answerTas(id, req);
      },
      output: (a) => {
        const v = this.sink.accept({ epoch: a.epoch, offset: a.offset, bytes: a.bytes });
        if (v.kind === "write") this.out.push(v.bytes);
        if (v.kind === "gap") this.gaps.push(v.reason);
        this.exec(id, n.onSinkAck(this.sink.delivered, v.kind === "stale" ? this.sink.epoch : undefined));
      },
      netOut: () => undefined,
      news: (text, data) => void this.news.push({ host: id, data, text }),
      done: () => undefined,
      halt: (reason) => {
        this.halts.push({ host: id, reason });
        if (this.o.haltClosesChannel) this.crash(id);
        else this.dead.add(id);
      },
      // The test sees the crash the node asked for; killing it is the test's decision.
      crash: (icount) => void this.crashes.push({ host: id, icount }),
      reconnect: () => undefined,
    };
  }

  /** The arbiter answers a node's request (at once, or when a test releases a deferred one). */
  answerTas(id: string, req: TasRequest): void {
    const r = testAndSet(this.arbiter, req);
    this.arbiter = r.state;
    if (r.result.granted && req.members.length === 2) this.pairGrants.push({ epoch: req.epoch, delivered: this.sink.delivered });
    this.exec(id, this.nodes.get(id)!.onTasResult(r.result, this.nowMs));
  }

  /** A message arrives: through the protocol's parser, then the node. */
  deliver(id: string, m: Msg): void {
    this.input(id, (n) => n.onPeerMessage(parsePeerMsg(m), this.nowMs));
  }

  /** One input to a node: its actions are carried out, and its invariants checked after it. */
  input(id: string, fn: (n: FtNode) => Action[]): void {
    const n = this.nodes.get(id)!;
    const actions = fn(n);
    n.invariants();
    this.exec(id, actions);
  }

  /** One round: every live node handles its inbox, ticks and runs; time moves 1 ms. */
  round(): void {
    this.nowMs += 1;
    for (const id of this.nodes.keys()) {
      if (this.dead.has(id) || this.stalled.has(id)) continue;
      const box = this.inbox.get(id)!;
      while (box.length && !this.dead.has(id)) this.deliver(id, box.shift()!);
      this.input(id, (n) => n.tick(this.nowMs));
      for (let k = 0; k < (this.o.runsPerRound ?? 1) && !this.dead.has(id); k++) {
        let idle = false;
        this.input(id, (n) => {
          const r = n.run(this.nowMs);
          idle = r.idle;
          return r.actions;
        });
        if (idle) break;
      }
    }
    this.o.afterRound?.(this);
  }

  /** A host's process dies: its peer's channel closes. */
  crash(id: string): void {
    if (this.dead.has(id)) return;
    this.dead.add(id);
    const peer = this.peerOf.get(id);
    if (peer && !this.dead.has(peer)) this.exec(peer, this.nodes.get(peer)!.onPeerClosed("crashed", this.nowMs));
  }

  /** Connects two nodes' log channel (both ways). */
  link(a: string, b: string): void {
    this.peerOf.set(a, b);
    this.peerOf.set(b, a);
  }

  /** Starts `p` as primary through the same first-epoch claim a host makes (with `b` as its backup, if given). */
  startPrimary(p: string, start: Omit<StartPrimary, "epoch" | "withBackup" | "backupHost">, b?: string): void {
    if (b) this.link(p, b);
    const req = firstEpochRequest(this.arbiter.epoch, p, b);
    const r = testAndSet(this.arbiter, req);
    this.arbiter = r.state;
    const first = onFirstEpochAnswer(this.nodes.get(p)!, req, r.result, start, this.nowMs);
    expect(first.granted).toBe(true);
    this.exec(p, first.actions);
  }

  /** A new node `id` joins the primary `primary` running alone (the primary's shell accepted its hello). */
  join(primary: string, id: string, seed: number, cfg: Partial<NodeConfig> = {}): FtNode {
    const b = this.add(id, seed, cfg);
    this.link(primary, id);
    expect(this.nodes.get(primary)!.acceptJoin(id, this.nowMs)).toBeUndefined();
    return b;
  }

  /** The live node that finished: its guest halted and all its output reached the sink in the sink's epoch. */
  winner(): string | undefined {
    return [...this.nodes].find(([id, n]) => !this.dead.has(id) && n.role === "finished" && n.status(0).epoch === this.sink.epoch)?.[0];
  }

  finished(): boolean {
    return this.winner() !== undefined;
  }

  /** Rounds until the run finished (at most `rounds`), failing the test otherwise. */
  runToEnd(rounds: number): void {
    for (let i = 0; i < rounds && !this.finished(); i++) this.round();
    expect(this.finished(), JSON.stringify(this.halts)).toBe(true);
  }

  text(): string {
    return Buffer.concat(this.out).toString("latin1");
  }
}
