// One FT host process: the shell around the pure FtNode (src/ft/node.ts). It owns what
// the node may not touch: the log channel's sockets, the console sink connection, the
// arbiter client, timers, and the process itself (exit, SIGKILL on request). It feeds
// the node messages and clock readings and carries out the actions the node returns.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Arbiter } from "../arbiter/api.js";
import { WrongClusterError } from "../arbiter/client.js";
import { openArbiter } from "../arbiter/open.js";
import type { Action } from "../ft/node.js";
import { FtNode } from "../ft/node.js";
import { type NodeIo, carryOut } from "../ft/driver.js";
import { answerHello, firstEpochRequest, helloMsg, onFirstEpochAnswer, resumeAnswerProblem, shellHalt } from "../ft/handshake.js";
import { type PeerMsg, ProtocolError, parsePeerMsg } from "../ft/protocol.js";
import { CLONE_CHUNK_BYTES } from "../ft/clone.js";
import { EXIT_DELAY_MS, PRIMARY_CONNECT_ATTEMPTS_MAX, PRIMARY_CONNECT_RETRY_MS, SINK_RECONNECT_MS } from "../ft/shell-timing.js";
import type { Channel, Msg } from "../transport/channel.js";
import { CLOSE_MALFORMED, CLOSE_REFUSED, connect, listen, log } from "../transport/channel.js";
import type { Image } from "../vm/image.js";
import type { FileDisk } from "./disk.js";
import type { DiskClient } from "./diskclient.js";
import { attachEngine } from "./engine.js";
import type { HostStatus } from "./sink.js";
import { SINK_SERVICE } from "./sink.js";
import { realWorld } from "./world.js";
import { HostError } from "./errors.js";
import { SwitchLink } from "./switch-link.js";
import { HostTrace, TRACE_FLUSH_INTERVAL_MS } from "./host-trace.js";
import { ConsoleInLink } from "./console-input.js";
import { HostRecord, RECORD_FLUSH_INTERVAL_MS } from "./host-record.js";
import { SlicePacer } from "./slice-pacer.js";
import { LoopStats } from "./loop-stats.js";
import { RemoteChannel, ioThread } from "./io-thread.js";
import type { FrontInfo } from "./io-shared.js";
import { QUEUE_EVENTS_MAX_DEFAULT } from "../replay/source.js";

/** A log channel: here, or on the I/O thread (a backup's channel to its primary; see io-thread.ts). */
type PeerChannel = Channel | RemoteChannel;

/**
 * Whether a backup's log channel lives on the I/O thread, where its log front
 * acknowledges log as it arrives (the default). FTVM_IO_THREAD=0 keeps it on the host's
 * thread, as before, for comparison.
 */
function useIoThread(o: FtOptions): boolean {
  return o.ioThread ?? process.env.FTVM_IO_THREAD !== "0";
}

/** The service name doubles as the protocol's version: "/2" added the cluster id to hello. */
export const LOG_SERVICE = "ftvm-log/2";
/**
 * How often the run loop yields to the event loop so acks, log batches and heartbeats get
 * in: an acknowledgement that arrives while a guest slice runs waits at most this long (plus
 * the slice) before it releases output. A yield with nothing to read costs a few
 * microseconds (one epoll_wait with a zero timeout), well under 1% at this interval; at the
 * old 5 ms, a busy backup sat on each log batch for up to 5 ms before acknowledging it,
 * which was most of the output rule's latency with a busy guest. Held output makes the
 * loop yield after every slice anyway.
 */
const YIELD_INTERVAL_MS = 1;
/**
 * The yield interval while nothing waits on this host's messages (FtNode.quiet): then only
 * heartbeats (every 25 ms, judged against a 1 s floor) and the next input are read at the
 * yields, and each yield costs an epoll_wait and a turn of the event loop (1,000 a second
 * at 1 ms). As long as a quiet slice (SLICE_TARGET_QUIET_MS), so a busy guest's next
 * input waits at most about a slice and a half to be read, against a plain run's 10 ms.
 */
const YIELD_INTERVAL_QUIET_MS = 2;
const STATUS_INTERVAL_MS = 250;
/**
 * Backups whose hello came after the primary stopped waiting for its first backup and
 * before its first epoch was granted, kept to be answered as joins once it runs (see
 * runPrimary); more than this are refused at once. One is the usual case (the first
 * backup, late on a busy machine); the bound only keeps a flood of hellos from piling up.
 */
const LATE_HELLOS_MAX = 4;
/**
 * A clone's memory goes out between guest slices, at most this long per loop iteration,
 * so the primary pauses only for the snapshot copy and the guest keeps most of the CPU
 * while the chunks stream.
 */
const BACKLOG_SEND_MS_PER_ITERATION = 1;

export interface FtOptions {
  secret: string;
  arbiterUrl: string;
  /**
   * The cluster this host belongs to (`ftvm ft` passes its arbiter's). Without it the host
   * learns it from the arbiter as it starts. Arbiter, sink, switch, disk server and peers of
   * another cluster are refused.
   */
  cluster?: string;
  sinkUrl?: string;
  /** The virtual switch (network clients reach the guest through it; see switch-link.ts). */
  switchUrl?: string;
  /** The shared disk's server (ftvm ft --disk starts one); the primary learns the geometry from it. */
  diskServerUrl?: string;
  /** With diskServerUrl: the shared image's file, read directly (see diskclient.ts). */
  diskReadImage?: string;
  /**
   * A non-shared disk: this host's own image (a file only this process opens). Both hosts
   * apply the same writes to their own images; see src/ft/localdisk.ts.
   */
  diskImage?: string;
  /** Non-shared, as a primary: the backup reads its own image instead of receiving read data in the log. */
  backupReads?: boolean;
  heartbeatMs: number;
  timeoutMs: number;
  /** Kill this process with SIGKILL when the guest reaches this icount (for demos and tests). */
  crashAtIcount?: number;
  /** With crashAtIcount: wait there for a paired backup first (see NodeConfig.crashOnlyPaired). */
  crashOnlyPaired?: boolean;
  /** The value HOSTID returns while this host is live. */
  guestHostId?: number;
  interpret?: boolean;
  /** The primary's bound on unacknowledged log, in bytes (execution pauses past it). */
  logBufferBytesMax?: number;
  /** The primary slows down once its backup trails by more than this many ms. */
  lagThresholdMs?: number;
  /** While a backup, replay this many times slower than the machine can (to demonstrate throttling). */
  slowdown?: number;
  /** Where a (later) backup connects to join this host once it is a primary running alone. */
  listenHost?: string;
  listenPort?: number;
  /** Called once the log channel listens (the launcher learns the URL from it). */
  onListening?(url: string): void;
  /** Write this host's execution trace here (see host-trace.ts), a record every traceIntervalIcount instructions and after every event. */
  tracePath?: string;
  traceIntervalIcount?: number;
  /** Write every event this host logs while live, with its epoch, here (see host-record.ts). */
  recordSegmentPath?: string;
  /** UNSAFE (demonstrations, tests): while live, RAND is not logged, so a backup diverges at the first one. */
  unloggedRand?: boolean;
  /** A backup's log channel on the I/O thread (default: yes unless FTVM_IO_THREAD=0; see io-thread.ts). */
  ioThread?: boolean;
}

export interface PrimaryOptions extends FtOptions {
  program: string;
  image: Image;
  memBytes?: number;
  stackBytes?: number;
  /** Wait this long for a backup before running alone (0: run alone at once). */
  waitForBackupMs: number;
}

export interface BackupOptions extends FtOptions {
  /**
   * The primary's log channel. A promise: a standby (a warm spare the launcher starts
   * ahead of time, see `ftvm backup --join-stdin`) is told where to join only when a
   * primary needs it, having loaded and connected everything else already.
   */
  primaryUrl: string | Promise<string>;
  /** A standby: called with each host it is told to connect to ahead of time (a join of that URL uses the connection). */
  onPrepare?: (fn: (url: string) => void) => void;
}

export class FtHost {
  /** This process's identity: new at every start, so a restarted host has no old state. */
  readonly id = `${process.pid}-${randomBytes(4).toString("hex")}`;
  readonly node: FtNode;
  private peer?: PeerChannel;
  private sink?: Channel;
  private disk?: DiskClient;
  /** A non-shared disk: this host's own image. */
  private ownDisk?: FileDisk;
  /** Bytes of "log" messages handed to the log channel (as encoded on the wire), for the benchmarks. */
  private logWireBytes = 0;
  private readonly arbiter: Arbiter;
  private readonly netLink?: SwitchLink;
  private wake?: () => void;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  /** Set when the node halted: the process exits with it shortly. */
  private haltCode: number | undefined;
  private finished?: () => void;
  /** Measurements for the benchmarks: output hold time and log round trips (ms). */
  private readonly latencyMs = new Samples();
  private readonly rttMs = new Samples();
  /** Sizes guest slices so each takes about SLICE_TARGET_MS, or SLICE_TARGET_QUIET_MS when the node is quiet (see slice-pacer.ts). */
  private readonly pacer = new SlicePacer();
  private readonly sentAt: { lsn: number; at: number }[] = [];
  private liveStartMs = performance.now();
  /** CPU use when the run loop started (the primary's CPU time per instruction is a speed figure that other load on the machine does not move much). */
  private liveStartCpu = process.cpuUsage();
  private logBytesWindow = { at: performance.now(), bytes: 0, rate: 0 };
  /** Bytes written to log channels this host has replaced (the status line reports the sum). */
  private logChannelBytesBefore = 0;
  private mipsWindow = { at: performance.now(), icount: 0, mips: 0 };
  private readonly trace?: HostTrace;
  /** Where the run loop's wall time goes (reported with "done", for the benchmarks). */
  private readonly loopStats = new LoopStats();
  private readonly record?: HostRecord;
  /** Console input from the launcher's stdin, through the sink's channel (see console-input.ts). */
  private readonly consoleIn = new ConsoleInLink(() => this.node);

  constructor(private readonly o: FtOptions) {
    this.arbiter = openArbiter(o.arbiterUrl, o.secret, o.cluster);
    if (o.tracePath) this.trace = new HostTrace(o.tracePath, this.id, o.traceIntervalIcount);
    if (o.recordSegmentPath) this.record = new HostRecord(o.recordSegmentPath, this.id);
    if (o.switchUrl) this.netLink = new SwitchLink(o.switchUrl, o.secret, this.id, () => this.node, () => this.poke(), () => this.cluster, (why) => this.haltFor(why));
    this.node = new FtNode({
      id: this.id,
      heartbeatMs: o.heartbeatMs,
      timeoutMs: o.timeoutMs,
      logBufferBytesMax: o.logBufferBytesMax,
      lagThresholdMs: o.lagThresholdMs,
      crashAtIcount: o.crashAtIcount,
      crashOnlyPaired: o.crashOnlyPaired,
      world: { ...realWorld(o.guestHostId), ...(this.netLink ? { net: this.netLink.queue } : {}) },
      attachEngine: o.interpret ? undefined : (m) => attachEngine(m),
      backupReads: o.backupReads,
      tracer: this.trace?.open,
      recorder: this.record,
      unloggedRand: o.unloggedRand,
    });
    // SIGUSR1 drops the log channel's connection (a blip: both hosts live on, and the
    // backup reconnects). SIGUSR2 cuts the log channel without closing it: a partition.
    process.on("SIGUSR1", () => {
      if (this.peer) {
        log("log channel dropped (SIGUSR1)");
        this.droppedHere = this.peer;
        this.peer.terminate();
      }
    });
    process.on("SIGUSR2", () => {
      if (this.peer) {
        this.peer.partitioned = true;
        log("log channel partitioned (SIGUSR2)");
      }
    });
  }

  private now(): number {
    return performance.now();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  // ---- carrying out the node's actions ----------------------------------------------

  private exec(actions: Action[]): void {
    // Most guest slices produce no action: nothing to cork then (the loop calls this after
    // every slice, thousands of times a second; carryOut still runs the io's `after`).
    if (actions.length === 0) return carryOut(actions, this.io);
    // One socket write per channel for the whole batch (see Channel.cork): a release's
    // net-out and net-ack, or a log batch and what follows it, wake the peer once.
    const corked = [this.peer, this.netLink?.channel].filter((c) => c !== undefined);
    for (const c of corked) c.cork();
    this.corked.push(...corked);
    try {
      carryOut(actions, this.io);
    } finally {
      for (const c of corked) c.uncork();
      this.corked.length -= corked.length;
    }
  }

  /** Channels corked by the exec() calls under way (a crash on purpose sends what they hold first, as before they were corked). */
  private readonly corked: PeerChannel[] = [];

  /** This shell's side of the one driver (src/ft/driver.ts): sockets, the arbiter client, the process. */
  private readonly io: NodeIo = {
    send: (msg) => {
      if (msg.t === "log") {
        // The segment holds every event before the backup may have it (see host-record.ts).
        this.record?.flush();
        const ev = msg.events as unknown[][];
        if (ev.length && this.sentAt.length < 100_000) this.sentAt.push({ lsn: ev[ev.length - 1][0] as number, at: this.now() });
      }
      this.sendPeer(msg);
    },
    cut: (reason) => {
      this.backlog = [];
      log(`peer failed: ${reason}`);
      this.peer?.terminate();
      // Final once the channel is closed: log the front acknowledged bars this host from taking over without it.
      if (this.peer instanceof RemoteChannel) this.node.noteFrontAcked(this.peer.ackedMax);
    },
    tas: (req) => {
      void this.arbiter
        .testAndSetPatiently(req, (e) => log(`arbiter unreachable (${e.message}); waiting`))
        .then(
          (r) => {
            this.exec(this.node.onTasResult(r, this.now()));
            this.poke();
          },
          (e: Error) => this.haltFor(e.message),
        );
    },
    output: (a) => {
      if (a.atMs !== undefined) this.latencyMs.add(this.now() - a.atMs);
      if (this.sink) this.sink.send({ t: "out", cluster: this.cluster, epoch: a.epoch, offset: a.offset, bytes: a.bytes });
      else if (!this.o.sinkUrl) {
        // No sink: this process's stdout is the outside world.
        process.stdout.write(a.bytes);
        this.exec(this.node.onSinkAck(a.offset + a.bytes.length));
      }
    },
    netOut: (a) => this.netLink?.output(a),
    news: (text, data) => {
      log(text);
      this.sink?.send({ t: "news", host: this.id, pid: process.pid, text, ...data });
    },
    done: (data) => {
      this.trace?.close();
      this.record?.close();
      this.sink?.send({
        t: "done",
        host: this.id,
        ...data,
        runMs: this.now() - this.liveStartMs,
        cpuMs: cpuMsSince(this.liveStartCpu),
        outputLatencyMs: this.latencyMs.summary(),
        logRttMs: this.rttMs.summary(),
        logWireBytes: this.logWireBytes,
        loop: this.loopStats.report(),
        ...(this.ownDisk ? { diskImage: this.ownDisk.path } : {}),
      });
      this.finished?.();
    },
    halt: (_reason, code) => {
      this.trace?.close();
      this.record?.close();
      this.stopped = true;
      this.haltCode = code;
      for (const t of this.timers) clearInterval(t);
      this.poke();
      // Let the news reach the sink, then go.
      setTimeout(() => process.exit(code), EXIT_DELAY_MS);
    },
    crash: (icount) => {
      this.trace?.flush();
      this.record?.flush();
      log(`crashing on purpose at icount ${icount} (--crash-at-icount)`);
      for (const c of this.corked) c.uncork();
      process.kill(process.pid, "SIGKILL");
    },
    reconnect: (lsn) => void this.reconnect(lsn),
    // The network link sends its marks once per batch; a halted host sends nothing more.
    after: () => {
      if (this.stopped) return;
      this.netLink?.sync();
      this.consoleIn.sync();
    },
  };

  /** Halts this process for a reason the node cannot see (another cluster's arbiter, a sink's refusal). */
  private haltFor(reason: string): void {
    if (this.stopped) return;
    this.exec(shellHalt(reason, this.node.epoch));
  }

  /** The cluster this host belongs to (known once runPrimary/runBackup has started). */
  private get cluster(): string {
    return this.arbiter.cluster ?? "";
  }

  /** Learns this host's cluster from the arbiter when no --cluster was given (waiting while it is unreachable). */
  private async joinCluster(): Promise<void> {
    if (this.arbiter.cluster !== undefined) return;
    const s = await this.arbiter.statePatiently((e) => log(`arbiter unreachable (${e.message}); waiting to learn the cluster`));
    log(`cluster ${s.cluster} (learned from the arbiter, at epoch ${s.epoch})`);
  }

  /** Clone memory chunks, and everything sent after them (the channel keeps its order), waiting to go out. */
  private backlog: PeerMsg[] = [];
  private backlogStats?: { startMs: number; sendMs: number; bytes: number; zeroChunks: number };

  private sendPeer(msg: PeerMsg): void {
    if (this.backlog.length > 0 || msg.t === "clone-mem") {
      if (!this.backlogStats) this.backlogStats = { startMs: this.now(), sendMs: 0, bytes: 0, zeroChunks: 0 };
      this.backlog.push(msg);
      return;
    }
    this.sendNow(msg);
  }

  private sendNow(msg: PeerMsg): void {
    const peer = this.peer;
    if (!peer) return;
    const before = peer.bytesOut;
    peer.send(msg);
    if (msg.t === "log") this.logWireBytes += peer.bytesOut - before;
  }

  /** Sends from the backlog for about BACKLOG_SEND_MS_PER_ITERATION. */
  private drainBacklog(): void {
    if (this.backlog.length === 0) return;
    const start = this.now();
    const st = this.backlogStats!;
    while (this.backlog.length > 0 && this.now() - start < BACKLOG_SEND_MS_PER_ITERATION) {
      const m = this.backlog.shift()!;
      if (m.t === "clone-mem") {
        st.bytes += m.bytes.length;
        if (m.zero) st.zeroChunks++;
      }
      this.sendNow(m);
    }
    const end = this.now();
    st.sendMs += end - start;
    if (this.backlog.length === 0) {
      const zero = st.zeroChunks > 0 ? ` (and ${st.zeroChunks} all-zero chunks of ${CLONE_CHUNK_BYTES} bytes without their bytes)` : "";
      const text = `clone memory sent: ${st.bytes} bytes${zero} in ${(end - st.startMs).toFixed(1)} ms, ${st.sendMs.toFixed(1)} ms of it sending between guest slices`;
      log(text);
      this.sink?.send({ t: "news", host: this.id, pid: process.pid, text, event: "clone-sent", bytes: st.bytes, wallMs: end - st.startMs, sendMs: st.sendMs });
      this.backlogStats = undefined;
    }
  }

  // ---- connections ------------------------------------------------------------------

  /** Connects the shared disk, or opens this host's own image (when there is one), and gives it to the node. */
  private async connectDisk(): Promise<void> {
    if (this.o.diskImage) {
      const { DiskImageError, FileDisk } = await import("./disk.js");
      try {
        this.ownDisk = await FileDisk.open(this.o.diskImage, () => this.poke());
      } catch (e) {
        throw new DiskImageError(`--disk-image ${this.o.diskImage}: ${(e as Error).message}`);
      }
      this.node.setDiskBackend(this.ownDisk, this.ownDisk.geometry);
      return;
    }
    if (!this.o.diskServerUrl) return;
    // Loaded only when there is a disk: a host's start-up time matters (failover tests race it).
    const { DiskClient, DiskClusterError } = await import("./diskclient.js");
    try {
      this.disk = await DiskClient.open(this.o.diskServerUrl, this.o.secret, {
        cluster: this.cluster,
        host: this.id,
        onSettled: () => this.poke(),
        currentEpoch: () => this.node.epoch,
        ...(this.o.diskReadImage !== undefined ? { readImage: this.o.diskReadImage } : {}),
        onFenced: (reason) => {
          this.exec(this.node.onDiskFenced(reason));
          this.poke();
        },
      });
    } catch (e) {
      // A disk server of another cluster: no retry can help, and nothing else may use it.
      if (!(e instanceof DiskClusterError)) throw e;
      this.haltFor(e.message);
      return new Promise(() => undefined);
    }
    this.node.setDiskBackend(this.disk);
  }

  private async connectSink(): Promise<void> {
    if (!this.o.sinkUrl) return;
    for (;;) {
      try {
        const ch = await connect(this.o.sinkUrl, this.o.secret, SINK_SERVICE);
        ch.send({ t: "hello", host: this.id, cluster: this.cluster });
        this.consoleIn.attach(ch);
        ch.on("message", (m) => {
          if (this.consoleIn.onMessage(m)) {
            this.consoleIn.sync();
            this.poke();
            return;
          }
          // Output of another cluster, or output that differs from what the sink wrote, can never be delivered.
          if (m.t === "wrong-cluster" || (m.t === "out-refused" && m.diverged === true)) return this.haltFor(`the console sink refused this host: ${String(m.reason)}`);
          if (m.t === "out-ack" || m.t === "out-refused") {
            this.exec(this.node.onSinkAck(m.delivered as number, m.t === "out-refused" ? (m.epoch as number) : undefined));
            this.poke();
          }
        });
        ch.on("close", () => {
          if (this.sink === ch) this.sink = undefined;
          if (!this.stopped) void this.connectSink();
        });
        this.sink = ch;
        // Anything not yet acknowledged goes again: the sink drops what it already has.
        for (const c of this.node.unsunk) ch.send({ t: "out", cluster: this.cluster, epoch: this.node.epoch, offset: c.offset, bytes: c.bytes });
        return;
      } catch (e) {
        log(`console sink unreachable (${(e as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, SINK_RECONNECT_MS));
      }
    }
  }

  private attachPeer(ch: PeerChannel): void {
    this.logChannelBytesBefore += this.peer?.bytesOut ?? 0;
    this.peer = ch;
    onMessage(ch, (m, info) => {
      // Taken by the node from here (whatever it makes of it): the front counts on it.
      if (info && ch instanceof RemoteChannel) ch.taken = info.seq;
      // A channel this host has already given up on (a failed backup) no longer speaks for anyone.
      if (this.peer !== ch) return;
      const now = this.now();
      if (m.t === "ack") {
        while (this.sentAt.length && this.sentAt[0].lsn <= (m.lsn as number)) this.rttMs.add(now - this.sentAt.shift()!.at);
      }
      try {
        const pm = parsePeerMsg(m);
        if (info?.front && pm.t === "log") pm.front = info.front;
        this.exec(this.node.onPeerMessage(pm, now));
      } catch (e) {
        if (e instanceof ProtocolError) return ch.refuse(CLOSE_MALFORMED, e.message);
        throw e;
      }
      this.poke();
    });
    ch.on("close", (_code, reason) => {
      if (ch instanceof RemoteChannel) {
        const f = ch.frontFigures;
        log(`log front: ${f.early} of ${f.batches} log batches acknowledged on arrival`);
      }
      if (this.peer !== ch) return;
      if (ch instanceof RemoteChannel) this.node.noteFrontAcked(ch.ackedMax);
      this.exec(this.node.onPeerClosed(reason, this.now(), ch === this.droppedHere));
      this.poke();
    });
  }

  /** The log channel this host dropped itself (SIGUSR1): its close says nothing of the peer. */
  private droppedHere?: PeerChannel;

  private startTimers(): void {
    this.timers.push(
      setInterval(() => {
        // The failure detector decides on what this host has received: first everything
        // the log front acknowledged (see RemoteChannel.hold).
        const remote = this.peer instanceof RemoteChannel ? this.peer : undefined;
        remote?.hold();
        try {
          this.exec(this.node.tick(this.now()));
        } finally {
          remote?.release();
        }
        this.poke();
      }, this.o.heartbeatMs),
    );
    this.timers.push(setInterval(() => this.sink?.send({ t: "status", status: this.status() }), STATUS_INTERVAL_MS));
    if (this.trace) this.timers.push(setInterval(() => this.trace!.flush(), TRACE_FLUSH_INTERVAL_MS));
    if (this.record) this.timers.push(setInterval(() => this.record!.flush(), RECORD_FLUSH_INTERVAL_MS));
  }

  status(): HostStatus {
    const now = this.now();
    const s = this.node.status(now);
    const w = this.mipsWindow;
    if (now - w.at >= STATUS_INTERVAL_MS / 2) {
      w.mips = (s.icount - w.icount) / (now - w.at) / 1000;
      w.at = now;
      w.icount = s.icount;
      const lw = this.logBytesWindow;
      lw.rate = ((s.logBytes - lw.bytes) * 1000) / Math.max(1, now - lw.at);
      lw.at = now;
      lw.bytes = s.logBytes;
    }
    const out: HostStatus = { host: this.id, role: s.role, pid: process.pid, epoch: s.epoch, icount: s.icount };
    if (s.clone) out.clone = s.clone;
    if (s.role === "primary") {
      out.lagIcount = Math.max(0, s.icount - (s.backupIcount ?? 0));
      // How long ago the primary last stood where the backup stands now: a lag in time
      // that stays honest when the guest idles (instructions / MIPS would not).
      out.lagMs = s.lagMs ?? 0;
      out.throttle = s.throttle;
      out.logBytesPerSec = this.logBytesWindow.rate;
      out.logBytes = s.logBytes;
      out.logChannelBytes = this.logChannelBytesBefore + (this.peer?.bytesOut ?? 0);
      out.heldOutputs = s.heldOutputs;
      out.heldBytes = s.heldBytes;
      if (this.disk || this.ownDisk) out.heldWrites = s.heldWrites;
    }
    return out;
  }

  // ---- the run loop -----------------------------------------------------------------

  private async loop(): Promise<void> {
    const done = new Promise<void>((r) => (this.finished = r));
    let finished = false;
    void done.then(() => (finished = true));
    let lastYield = this.now();
    let slowDebtMs = 0;
    this.liveStartMs = this.now();
    this.liveStartCpu = process.cpuUsage();
    while (!finished && !this.stopped) {
      this.drainBacklog();
      const runAt = this.now();
      const replaying = this.node.role === "backup";
      const machineBefore = this.node.machine;
      const icountBefore = machineBefore?.icount ?? 0;
      const r = this.node.run(runAt, this.pacer.sliceIcount(this.node.quiet(runAt)));
      // Only a slice of the same machine says how fast it runs (a clone replaces it).
      if (machineBefore !== undefined && this.node.machine === machineBefore) this.pacer.observe(machineBefore.icount - icountBefore, this.now() - runAt);
      this.exec(r.actions);
      if (replaying && this.peer instanceof RemoteChannel) this.peer.publish(this.node.machine.icount, this.node.replay?.source.length ?? 0);
      const ranAt = this.now();
      this.loopStats.runs++;
      this.loopStats.sliceMs += ranAt - runAt;
      if (replaying && !r.idle && (this.o.slowdown ?? 1) > 1) {
        // --slowdown: sleep (factor - 1) times as long as the slice took, in sleeps of a few ms.
        slowDebtMs += (this.now() - runAt) * (this.o.slowdown! - 1);
        if (slowDebtMs >= 2) {
          await new Promise((res) => setTimeout(res, slowDebtMs));
          slowDebtMs = 0;
          lastYield = this.now();
        }
      }
      const clone = r.actions.length === 0 ? undefined : r.actions.find((a) => a.kind === "news" && a.data.event === "clone");
      if (clone && clone.kind === "news") {
        // The guest stood still from the start of this run() (the snapshot) until the
        // clone's header was handed to the socket: that is the primary's pause (the
        // memory chunks follow between guest slices).
        const pauseMs = this.now() - runAt;
        log(`clone: the primary paused ${pauseMs.toFixed(1)} ms to copy ${clone.data.memBytes} bytes of memory and queue them`);
        this.sink?.send({ t: "news", host: this.id, pid: process.pid, text: `clone pause ${pauseMs.toFixed(1)} ms`, event: "clone-pause", pauseMs, memBytes: clone.data.memBytes, icount: clone.data.icount });
      }
      if (finished) break;
      if (this.node.role === "finished") break;
      if (r.idle && this.backlog.length > 0) {
        await new Promise<void>((res) => setImmediate(res));
        lastYield = this.now();
      } else if (r.idle) {
        const idleAt = this.now();
        await new Promise<void>((resolve) => {
          const ms = r.wakeAtMs === undefined ? 1000 : Math.max(0, r.wakeAtMs - this.now());
          const timer = setTimeout(() => this.poke(), ms);
          // Woken early (a message, a disk completion): the timer goes too. Left pending,
          // each early wake-up added a timer that, when it fired, woke the loop and set
          // another: an idle primary carried dozens of them and woke in bursts of as
          // many at every deadline (a 3 s run of ticker.s spent 0.54-0.85 s of the primary's CPU so, now 0.34-0.38 s).
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        lastYield = this.now();
        this.loopStats.asleepMs += lastYield - idleAt;
      } else if (this.node.hasHeldOutput() || this.now() - lastYield >= (this.node.quiet(this.now()) ? YIELD_INTERVAL_QUIET_MS : YIELD_INTERVAL_MS)) {
        const yieldAt = this.now();
        await new Promise<void>((res) => setImmediate(res));
        lastYield = this.now();
        this.loopStats.yields++;
        this.loopStats.yieldMs += lastYield - yieldAt;
      }
    }
    // A halted host exits with its code (scheduled by the halt action); never return normally.
    if (this.haltCode !== undefined) await new Promise(() => undefined);
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.trace?.close();
    this.record?.close();
    await new Promise((r) => setTimeout(r, EXIT_DELAY_MS));
    this.peer?.close("guest finished");
    this.sink?.close("guest finished");
    this.netLink?.close();
    this.disk?.close();
    await this.ownDisk?.close();
    this.arbiter.close();
  }

  // ---- primary ---------------------------------------------------------------------

  async runPrimary(o: PrimaryOptions): Promise<void> {
    await this.joinCluster();
    await this.connectSink();
    await this.netLink?.connect();
    await this.connectDisk();
    // Listen for the backup, wait for it (or not), then claim the first epoch of the pair.
    let backup: { ch: Channel; host: string } | undefined;
    let gotBackup: () => void = () => undefined;
    const backupArrived = new Promise<void>((r) => (gotBackup = r));
    this.firstBackup = (ch, host) => {
      if (backup) return "this primary already has its backup";
      backup = { ch, host };
      gotBackup();
      return undefined;
    };
    const server = await this.listenForPeers(o);
    if (o.waitForBackupMs > 0) await Promise.race([backupArrived, new Promise((r) => setTimeout(r, o.waitForBackupMs))]);
    const chosen = backup as { ch: Channel; host: string } | undefined;
    // Chosen: a backup that arrives from here on is too late to be the first. Until the
    // first epoch is granted its hello waits unanswered (lateHellos), and once this node
    // runs it is answered as a join: the backup gets a clone. (Refused, as it was, the
    // first backup that a busy machine made late died after it had loaded everything, and
    // the launcher started another one, as slowly: under load the pair then formed late or
    // never; seen at load 20-30 in ft-e2e and ft-load-e2e.) Past LATE_HELLOS_MAX, refused
    // with the reason.
    if (!chosen) {
      this.lateHellos = [];
      this.firstBackup = () => `the primary stopped waiting for its first backup after ${o.waitForBackupMs} ms and is starting without one; join it by clone`;
    }
    let req = firstEpochRequest(0, this.id, chosen?.host);
    let r: Awaited<ReturnType<Arbiter["testAndSet"]>>;
    try {
      // Patient: an arbiter that is down (or restarting) as the primary starts is waited for.
      const waiting = (e: Error) => log(`arbiter unreachable (${e.message}); waiting`);
      req = firstEpochRequest((await this.arbiter.statePatiently(waiting)).epoch, this.id, chosen?.host);
      r = await this.arbiter.testAndSetPatiently(req, waiting);
    } catch (e) {
      if (!(e instanceof WrongClusterError)) throw e;
      r = { granted: false, state: { cluster: e.theirs, epoch: 0, members: [], holder: "" }, reason: e.message };
    }
    this.firstBackup = undefined;
    const late = this.lateHellos ?? [];
    this.lateHellos = undefined;
    const start = { program: o.program, image: o.image, memBytes: o.memBytes, stackBytes: o.stackBytes, disk: this.disk?.geometry ?? this.ownDisk?.geometry };
    const first = onFirstEpochAnswer(this.node, req, r, start, this.now());
    if (!first.granted) {
      chosen?.ch.refuse(CLOSE_REFUSED, "the primary was refused by the arbiter");
      for (const l of late) if (!l.closed) l.ch.refuse(CLOSE_REFUSED, "the primary was refused by the arbiter");
      this.exec(first.actions);
      await new Promise(() => undefined);
    }
    if (chosen) this.attachPeer(chosen.ch);
    this.exec(first.actions);
    // The late backups' hellos, now that this node runs: the first is a join (a clone), any
    // other is refused by the node as a second joiner. One whose channel closed meanwhile
    // is gone (its process died, or gave up): nothing to answer.
    for (const l of late) if (!l.closed) this.answerPeer(l.ch, l.m);
    this.startTimers();
    await this.loop();
    await server.close();
  }

  /** Before the first epoch: hands the first backup to runPrimary (returns a refusal reason otherwise). */
  private firstBackup?: (ch: Channel, host: string) => string | undefined;
  /** While the primary claims its first epoch without a backup: hellos that came too late to be the first, answered once it runs. */
  private lateHellos?: { ch: Channel; m: Msg; closed: boolean }[];

  /**
   * The log channel's listening side, on every host: a primary's first backup arrives
   * here, and so does any later backup that joins a primary running alone (by clone).
   */
  private async listenForPeers(o: FtOptions): Promise<{ url: string; close(): Promise<void> }> {
    const server = await listen({
      host: o.listenHost,
      port: o.listenPort,
      secret: o.secret,
      service: LOG_SERVICE,
      onChannel: (ch) => {
        ch.once("message", (m) => {
          const late = this.lateHellos;
          if (late && late.length < LATE_HELLOS_MAX && m.t === "hello" && m.cluster === this.cluster) {
            // Too late to be the first backup, too early to join: kept until the first epoch is granted (see runPrimary).
            const l = { ch, m, closed: false };
            ch.once("close", () => (l.closed = true));
            late.push(l);
            log(`backup ${String(m.host)} came after this primary stopped waiting for its first backup: it joins by clone once the first epoch is granted`);
            return;
          }
          this.answerPeer(ch, m);
        });
      },
    });
    o.onListening?.(server.url);
    return server;
  }

  /** A peer's first message on the log channel: the first backup, a joiner, a backup resuming, or one refused with the reason. */
  private answerPeer(ch: Channel, m: Msg): void {
    const v = answerHello(this.node, m, { cluster: this.cluster, firstBackup: this.firstBackup && ((host) => this.firstBackup!(ch, host)) }, this.now());
    switch (v.kind) {
      case "refuse":
        return ch.refuse(v.code === "malformed" ? CLOSE_MALFORMED : CLOSE_REFUSED, v.reason);
      case "first":
        return;
      case "resume": {
        // Our backup is back after its channel closed: continue from what it received.
        const old = this.peer;
        this.attachPeer(ch);
        old?.terminate();
        log(`backup ${v.host} reconnected; continuing from lsn ${v.lsn}`);
        this.exec(v.actions);
        this.poke();
        return;
      }
      case "join":
        log(`backup ${v.host} joins: cloning`);
        this.attachPeer(ch);
        this.poke();
        return;
    }
  }

  // ---- backup ----------------------------------------------------------------------

  private primaryUrl = "";

  /** The log channel closed: connect again and ask to continue from `lsn` (see FtNode.onPeerClosed). */
  private async reconnect(lsn: number): Promise<void> {
    const fail = (why: string) => {
      this.exec(this.node.onReconnectFailed(why, this.now()));
      this.poke();
    };
    let ch: PeerChannel;
    try {
      ch = await this.connectLog(this.primaryUrl);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (this.node.peerFailed !== undefined) {
      // Failed over while connecting (see below): a hello now would only make the primary resume a pair that is gone.
      ch.terminate();
      return fail("the failure detector gave up on the primary first");
    }
    const { early, infos, collect } = collectEarly(ch);
    ch.send(helloMsg(this.id, this.cluster, lsn));
    // The answer is waited for until the failure detector gives up on the primary (it keeps
    // counting while this host is disconnected, in this host's own awake time), not for a
    // fixed time of the wall clock: on a busy machine the answer of a live primary that took
    // this backup back (and re-sent it the log) arrived after more than the 1000 ms that a
    // wall-clock wait allowed; the backup then went live beside it, and the primary, which
    // had resumed the pair, lost the next epoch and halted (ft-clone-e2e's catch-up, beside
    // the standard load at load average 40-59).
    const answer = await firstMessage(ch, early, { when: () => this.node.peerFailed !== undefined, everyMs: this.o.heartbeatMs });
    if ("gaveUp" in answer || this.node.peerFailed !== undefined) {
      // The detector declared the primary failed meanwhile and the failover is under way:
      // this connection is not used (fail() ends the node's reconnect: the node, which
      // already counts the primary failed, adds nothing more).
      ch.terminate();
      return fail("the failure detector gave up on the primary first");
    }
    const refused = "code" in answer && answer.code === CLOSE_REFUSED;
    const first = "msg" in answer ? answer.msg : answer.reason || "closed";
    if (refused) {
      this.exec(this.node.onResumeRefused(String(first), this.now()));
      this.poke();
      return;
    }
    const problem = typeof first === "string" ? first : resumeAnswerProblem(first);
    if (problem !== undefined) {
      ch.terminate();
      return fail(problem);
    }
    ch.off("message", collect);
    if (ch instanceof RemoteChannel && typeof first !== "string") ch.taken = infos.get(first)?.seq ?? 0;
    this.attachPeer(ch);
    this.exec(this.node.onResumed(this.now()));
    for (const m of early.splice(0)) (ch as RemoteChannel).emit("message", m, infos.get(m));
    this.poke();
  }

  /** A backup's log channel to its primary: on the I/O thread with its log front, unless turned off. */
  private connectLog(url: string): Promise<PeerChannel> {
    if (!useIoThread(this.o)) return connect(url, this.o.secret, LOG_SERVICE);
    return ioThread().connect(url, this.o.secret, LOG_SERVICE, { queueEventsMax: QUEUE_EVENTS_MAX_DEFAULT });
  }

  async runBackup(o: BackupOptions): Promise<void> {
    // The I/O thread starts now (a V8 isolate loading its modules: tens of ms of CPU), while
    // the rest of this host starts, rather than when the primary is known: a standby then
    // has it ready when it is told to join, and the join does not wait for it.
    if (useIoThread(this.o)) ioThread();
    await this.joinCluster();
    await this.connectSink();
    await this.netLink?.connect();
    await this.connectDisk();
    // Listen too: once this host is live alone, a new backup joins it here.
    const server = await this.listenForPeers(o);
    // A standby connects ahead of time to the host it is told will likely need it next (the
    // pair's backup, which runs alone once its primary dies): the join order then finds the
    // log channel open and authenticated, and the hello goes out at once. Connecting takes
    // a TCP handshake, the WebSocket upgrade and the challenge and its answer, each a wake-up
    // of both processes: on a busy machine that was 0.3-3 s after the join order.
    let prepared: { url: string; ch: Promise<PeerChannel | undefined> } | undefined;
    let joinOrdered = false;
    o.onPrepare?.((url) => {
      if (joinOrdered || prepared?.url === url) return;
      const old = prepared;
      prepared = {
        url,
        // Not reaching it now is no failure: the join connects anew.
        ch: this.connectLog(url).then(
          (c) => {
            // In the run's event stream only (not on the terminal: one per standby is noise
            // there): the launcher's events, and tests, see that the standby got ready.
            this.sink?.send({ t: "news", host: this.id, pid: process.pid, text: `connected ahead of time to ${url}`, event: "prepared" });
            return c;
          },
          () => undefined,
        ),
      };
      void old?.ch.then((c) => c?.close("prepared for another host"));
    });
    // A standby waits here, everything else ready, until it is told which primary to join.
    const primaryUrl = await o.primaryUrl;
    joinOrdered = true;
    this.primaryUrl = primaryUrl;
    let ch: PeerChannel | undefined;
    if (prepared?.url === primaryUrl) {
      // Still connecting: no slower than starting anew. Closed meanwhile (that host died): anew.
      const c = await prepared.ch;
      if (c?.isOpen) ch = c;
    } else if (prepared) void prepared.ch.then((c) => c?.close("joining another host"));
    // Which way the join went, for the run's event stream (see "prepared" above): a test
    // checks that a standby told ahead of time joins over the channel it opened then. (The
    // first backup says so too: it joins its primary over a new connection.)
    this.sink?.send({
      t: "news",
      host: this.id,
      pid: process.pid,
      text: ch ? `joining ${primaryUrl} over the log channel connected ahead of time` : `joining ${primaryUrl} over a new connection`,
      event: ch ? "join-prepared" : "join-connect",
    });
    for (let attempt = 0; !ch; attempt++) {
      try {
        ch = await this.connectLog(primaryUrl);
      } catch (e) {
        if (attempt >= PRIMARY_CONNECT_ATTEMPTS_MAX) throw new HostError(`cannot reach the primary at ${primaryUrl} (${PRIMARY_CONNECT_ATTEMPTS_MAX} attempts): ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, PRIMARY_CONNECT_RETRY_MS));
      }
    }
    // ws may emit several messages in one go (one TCP read), before an await resumes:
    // collect everything that arrives before the node is ready, then hand it over.
    const { early, infos, collect } = collectEarly(ch);
    ch.send(helloMsg(this.id, this.cluster));
    const answer = await firstMessage(ch, early);
    if (!("msg" in answer)) throw new HostError(`the primary closed the log channel before starting: ${("reason" in answer && answer.reason) || "no reason given"}`);
    try {
      this.exec(this.node.startBackup(parsePeerMsg(answer.msg), this.now()));
    } catch (e) {
      if (e instanceof ProtocolError) ch.refuse(CLOSE_MALFORMED, e.message);
      throw e;
    }
    ch.off("message", collect);
    if (ch instanceof RemoteChannel) ch.taken = infos.get(answer.msg)?.seq ?? 0;
    this.attachPeer(ch);
    for (const m of early.splice(0)) (ch as RemoteChannel).emit("message", m, infos.get(m));
    this.startTimers();
    await this.loop();
    await server.close();
  }
}

/**
 * The first message on a channel whose messages a collector pushes onto `early`, or why
 * none came: the channel closed (with its code and reason), or `timeoutMs` passed.
 * Event-driven: it listens after the collector, so `early` holds the message when it runs.
 */
function firstMessage(
  ch: PeerChannel,
  early: Msg[],
  /** Stop waiting once `when()` holds, looked at every `everyMs`. */
  giveUp?: { when: () => boolean; everyMs: number },
): Promise<{ msg: Msg } | { code: number; reason: string } | { gaveUp: true }> {
  return new Promise((resolve) => {
    if (early.length > 0) return resolve({ msg: early.shift()! });
    let timer: NodeJS.Timeout | undefined;
    const settle = (r: { msg: Msg } | { code: number; reason: string } | { gaveUp: true }) => {
      ch.off("message", onMessage);
      ch.off("close", onClose);
      if (timer) clearInterval(timer);
      resolve(r);
    };
    const onMessage = () => {
      if (early.length > 0) settle({ msg: early.shift()! });
    };
    const onClose = (code: number, reason: string) => settle({ code, reason });
    ch.on("message", onMessage);
    ch.on("close", onClose);
    if (giveUp)
      timer = setInterval(() => {
        if (giveUp.when()) settle({ gaveUp: true });
      }, giveUp.everyMs);
  });
}

/**
 * Collects a new channel's messages, with what the log front made of each, until the node
 * is ready for them (ws may emit several in one TCP read, before an await resumes).
 */
function collectEarly(ch: PeerChannel): { early: Msg[]; infos: WeakMap<Msg, FrontInfo>; collect: (m: Msg, info?: FrontInfo) => void } {
  const early: Msg[] = [];
  const infos = new WeakMap<Msg, FrontInfo>();
  const collect = (m: Msg, info?: FrontInfo) => {
    early.push(m);
    if (info) infos.set(m, info);
  };
  onMessage(ch, collect);
  return { early, infos, collect };
}

/** Listens to a channel's messages, with what the log front made of each (a RemoteChannel's; none here). */
function onMessage(ch: PeerChannel, fn: (m: Msg, info?: FrontInfo) => void): void {
  (ch as RemoteChannel).on("message", fn);
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

/** A bounded sample of measurements (the first `max`), summarized as percentiles. */
class Samples {
  private readonly xs: number[] = [];
  constructor(private readonly max = 100_000) {}
  add(x: number): void {
    if (this.xs.length < this.max) this.xs.push(x);
  }
  summary(): { n: number; p50: number; p99: number } | undefined {
    if (this.xs.length === 0) return undefined;
    const s = [...this.xs].sort((a, b) => a - b);
    const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
    return { n: s.length, p50: q(0.5), p99: q(0.99) };
  }
}
