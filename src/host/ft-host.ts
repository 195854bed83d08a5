// One FT host process: a primary (live, logging to its backup, output held until the log
// is acknowledged) or a backup (replaying the primary's log, ready to go live). The
// protocol decisions live in src/ft (log batching, output gate, failure detector) and
// src/arbiter (test-and-set); this file is the shell around them: sockets, timers, the
// run loop, and status reports to the launcher.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ArbiterClient } from "../arbiter/client.js";
import { Bus } from "../devices/bus.js";
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import { FailureDetector } from "../ft/detector.js";
import { OutputGate, type HeldOutput } from "../ft/gate.js";
import { AckError, PrimaryLog } from "../ft/primary.js";
import { LiveEnv } from "../replay/live.js";
import { toEvents } from "../replay/logformat.js";
import { DivergenceError, ReplayEnv } from "../replay/replay.js";
import { LiveRunner, ReplayRunner } from "../replay/session.js";
import { QueueSource } from "../replay/source.js";
import type { Channel, Msg } from "../transport/channel.js";
import { CLOSE_MALFORMED, CLOSE_REFUSED, connect, listen, log } from "../transport/channel.js";
import type { Image } from "../vm/image.js";
import { decodeImage, encodeImage } from "../vm/image.js";
import { Machine } from "../vm/machine.js";
import { attachEngine } from "./engine.js";
import type { HostStatus } from "./sink.js";
import { SINK_SERVICE } from "./sink.js";
import { realWorld } from "./world.js";

export const LOG_SERVICE = "ftvm-log";
/** How often the primary sends a batch (with a PROGRESS mark) when nothing else forces one. */
export const FLUSH_INTERVAL_MS = 2;
/** How often the run loop yields to the event loop so acks and heartbeats get in. */
const YIELD_INTERVAL_MS = 2;
const STATUS_INTERVAL_MS = 250;
/** Output a backup keeps until the sink has it; past this it stops replaying until the primary reports progress. */
export const BACKUP_OUTPUT_BYTES_MAX = 16 * 1024 * 1024;

export interface FtOptions {
  secret: string;
  arbiterUrl: string;
  sinkUrl?: string;
  heartbeatMs: number;
  timeoutMs: number;
  /** Kill this process with SIGKILL when the guest reaches this icount (for demos and tests). */
  crashAtIcount?: number;
  /** The value HOSTID returns while this host is live. */
  guestHostId?: number;
  interpret?: boolean;
}

export interface PrimaryOptions extends FtOptions {
  program: string;
  image: Image;
  memBytes?: number;
  stackBytes?: number;
  listenHost?: string;
  listenPort?: number;
  /** Wait this long for a backup before running alone (0: run alone at once). */
  waitForBackupMs: number;
  /** Called once the log channel listens (the launcher learns the URL from it). */
  onListening?(url: string): void;
}

export interface BackupOptions extends FtOptions {
  primaryUrl: string;
}

type Role = "starting" | "primary" | "alone" | "backup" | "halted";

export class FtHost {
  /** This process's identity: new at every start, so a restarted host has no old state. */
  readonly id = `${process.pid}-${randomBytes(4).toString("hex")}`;
  role: Role = "starting";
  epoch = 0;
  machine!: Machine;
  bus!: Bus;
  private live?: LiveEnv;
  private runner?: LiveRunner;
  private readonly gate = new OutputGate();
  private plog?: PrimaryLog;
  private peer?: Channel;
  private detector?: FailureDetector;
  private sink?: Channel;
  private sinkDelivered = 0;
  /** Output released (or to re-send after going live) that the sink has not acknowledged. */
  private unsunk: HeldOutput[] = [];
  private readonly arbiter: ArbiterClient;
  private wake?: () => void;
  private timers: NodeJS.Timeout[] = [];
  private electing = false;
  private finished = false;
  private logBytesWindow = { at: Date.now(), bytes: 0, rate: 0 };
  /** Measurements for the benchmarks: output hold time and log round trips (ms). */
  private readonly latencyMs = new Samples();
  private readonly rttMs = new Samples();
  private readonly sentAt: { lsn: number; at: number }[] = [];
  private liveStartMs = 0;

  constructor(private readonly o: FtOptions) {
    this.arbiter = new ArbiterClient(o.arbiterUrl, o.secret);
    // SIGUSR2 cuts the log channel without closing it: a partition between the hosts.
    process.on("SIGUSR2", () => {
      if (this.peer) {
        this.peer.partitioned = true;
        log("log channel partitioned (SIGUSR2)");
      }
    });
  }

  // ---- shared plumbing -------------------------------------------------------------

  private now(): number {
    return Date.now();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      if (ms < Infinity) setTimeout(() => this.poke(), ms);
    });
  }

  private async connectSink(): Promise<void> {
    if (!this.o.sinkUrl) return;
    for (;;) {
      try {
        const ch = await connect(this.o.sinkUrl, this.o.secret, SINK_SERVICE);
        ch.on("message", (m) => this.onSinkMessage(m));
        ch.on("close", () => {
          if (this.sink === ch) this.sink = undefined;
          if (!this.finished) void this.connectSink();
        });
        this.sink = ch;
        // Anything not yet acknowledged goes again: the sink drops what it already has.
        for (const c of this.unsunk) ch.send({ t: "out", epoch: this.epoch, offset: c.offset, bytes: c.bytes });
        return;
      } catch (e) {
        log(`console sink unreachable (${(e as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private onSinkMessage(m: Msg): void {
    if (m.t === "out-ack" || m.t === "out-refused") {
      const d = m.delivered as number;
      if (d > this.sinkDelivered) this.sinkDelivered = d;
      while (this.unsunk.length && this.unsunk[0].offset + this.unsunk[0].bytes.length <= this.sinkDelivered) this.unsunk.shift();
      if (m.t === "out-refused" && (m.epoch as number) > this.epoch) {
        // A newer epoch exists: this host has been deposed. Stop before doing anything else.
        this.halt(`the sink is at epoch ${String(m.epoch)}, this host at ${this.epoch}: deposed`, 3);
      }
      this.poke();
    }
  }

  private toSink(chunks: HeldOutput[]): void {
    for (const c of chunks) {
      this.unsunk.push(c);
      if (this.sink) this.sink.send({ t: "out", epoch: this.epoch, offset: c.offset, bytes: c.bytes });
      else if (!this.o.sinkUrl) {
        process.stdout.write(c.bytes);
        this.sinkDelivered = c.offset + c.bytes.length;
        this.unsunk.length = 0;
      }
    }
  }

  private news(text: string, data: Record<string, unknown> = {}): void {
    log(text);
    this.sink?.send({ t: "news", host: this.id, text, role: this.role, epoch: this.epoch, ...data });
  }

  status(): HostStatus {
    const m = this.machine;
    const s: HostStatus = { host: this.id, role: this.role, pid: process.pid, epoch: this.epoch, icount: m ? m.icount : 0 };
    if (this.role === "primary" && this.plog) {
      s.lagIcount = Math.max(0, m.icount - this.plog.backupIcount);
      s.lagMs = this.mipsRecent > 0 ? s.lagIcount / (this.mipsRecent * 1000) : 0;
      s.logBytesPerSec = this.logBytesWindow.rate;
      s.heldOutputs = this.gate.heldCount;
      s.heldBytes = this.gate.heldBytes;
    }
    return s;
  }

  private mipsRecent = 0;
  private mipsWindow = { at: Date.now(), icount: 0 };

  private startStatusTimer(): void {
    const t = setInterval(() => {
      const now = this.now();
      const dt = Math.max(1, now - this.mipsWindow.at);
      if (this.machine) {
        this.mipsRecent = (this.machine.icount - this.mipsWindow.icount) / dt / 1000;
        this.mipsWindow = { at: now, icount: this.machine.icount };
      }
      if (this.plog) {
        const w = this.logBytesWindow;
        const sdt = Math.max(1, now - w.at);
        w.rate = ((this.plog.totalBytes - w.bytes) * 1000) / sdt;
        w.at = now;
        w.bytes = this.plog.totalBytes;
      }
      this.sink?.send({ t: "status", status: this.status() });
    }, STATUS_INTERVAL_MS);
    this.timers.push(t);
  }

  private halt(reason: string, code: number): never {
    this.finished = true;
    this.role = "halted";
    this.news(`halting: ${reason}`);
    for (const t of this.timers) clearInterval(t);
    // Let the news reach the sink, then go.
    setTimeout(() => process.exit(code), 50);
    throw new HaltSignal(reason);
  }

  private maybeCrash(): void {
    if (this.o.crashAtIcount !== undefined && this.machine.icount >= this.o.crashAtIcount) {
      log(`crashing on purpose at icount ${this.machine.icount} (--crash-at-icount)`);
      process.kill(process.pid, "SIGKILL");
    }
  }

  private async electSelfAlone(why: string): Promise<boolean> {
    // Win the next epoch alone, or learn that the peer did and halt.
    this.electing = true;
    const epoch = this.epoch + 1;
    const r = await this.arbiter.testAndSetPatiently({ epoch, host: this.id, members: [this.id] }, (e) => log(`arbiter unreachable (${e.message}); waiting`));
    this.electing = false;
    if (!r.granted) this.halt(`lost the test-and-set for epoch ${epoch} (${r.reason})`, 3);
    this.epoch = epoch;
    this.news(`won epoch ${epoch} alone: ${why}`, { event: "alone" });
    return true;
  }

  // ---- primary ---------------------------------------------------------------------

  async runPrimary(o: PrimaryOptions): Promise<void> {
    this.machine = new Machine(o.image, { memBytes: o.memBytes, stackBytes: o.stackBytes });
    if (!o.interpret) attachEngine(this.machine);
    this.bus = new Bus(this.machine, undefined as never);
    await this.connectSink();
    // Listen for the backup, wait for it (or not), then claim the first epoch of the pair.
    let backup: { ch: Channel; host: string } | undefined;
    let gotBackup: (b: { ch: Channel; host: string }) => void = () => undefined;
    const backupArrived = new Promise<{ ch: Channel; host: string }>((r) => (gotBackup = r));
    const server = await listen({
      host: o.listenHost,
      port: o.listenPort,
      secret: o.secret,
      service: LOG_SERVICE,
      onChannel: (ch) => {
        ch.once("message", (m) => {
          if (m.t !== "hello" || typeof m.host !== "string") return ch.refuse(CLOSE_MALFORMED, "expected hello");
          if (backup || this.role !== "starting") return ch.refuse(CLOSE_REFUSED, "this primary already has its backup (joining a running primary needs a clone)");
          backup = { ch, host: m.host };
          gotBackup(backup);
        });
      },
    });
    o.onListening?.(server.url);
    if (o.waitForBackupMs > 0) await Promise.race([backupArrived, new Promise((r) => setTimeout(r, o.waitForBackupMs))]);
    const state = await this.arbiter.state();
    const epoch = state.epoch + 1;
    const members = backup ? [this.id, backup.host] : [this.id];
    const r = await this.arbiter.testAndSet({ epoch, host: this.id, members });
    if (!r.granted) {
      backup?.ch.refuse(CLOSE_REFUSED, "the primary was refused by the arbiter");
      this.halt(`the arbiter refused epoch ${epoch}: ${r.reason}`, 3);
    }
    this.epoch = epoch;
    const emit = (e: Event) => this.plog?.add(e);
    this.live = new LiveEnv(this.bus, realWorld(o.guestHostId), emit);
    this.bus.env = this.live;
    this.runner = new LiveRunner(this.bus, this.live, { maxIcount: o.crashAtIcount });
    if (backup) {
      this.role = "primary";
      this.plog = new PrimaryLog();
      this.attachBackup(backup.ch);
      backup.ch.send({ t: "start", epoch, image: encodeImage(o.image), memBytes: this.machine.memBytes, stackBytes: this.machine.stackBytes, program: o.program });
      this.news(`primary of epoch ${epoch} with backup ${backup.host}`, { event: "start" });
    } else {
      this.role = "alone";
      this.news(`primary of epoch ${epoch}, running alone (no backup)`, { event: "start" });
    }
    this.startStatusTimer();
    await this.liveLoop();
    await server.close();
  }

  private attachBackup(ch: Channel): void {
    this.peer = ch;
    this.detector = new FailureDetector(this.o.timeoutMs, this.now());
    ch.on("message", (m) => {
      this.detector?.heard(this.now());
      if (m.t === "ack") {
        try {
          this.plog!.onAck(m.lsn as number, m.icount as number);
        } catch (e) {
          if (e instanceof AckError) return ch.refuse(CLOSE_MALFORMED, e.message);
          throw e;
        }
        const now = performance.now();
        while (this.sentAt.length && this.sentAt[0].lsn <= this.plog!.ackedLsn) this.rttMs.add(now - this.sentAt.shift()!.at);
        const released = this.gate.release(this.plog!.ackedIcount);
        for (const c of released) if (c.atMs !== undefined) this.latencyMs.add(now - c.atMs);
        this.toSink(released);
        this.poke();
      } else if (m.t !== "hb") ch.refuse(CLOSE_MALFORMED, `unexpected "${m.t}" from the backup`);
    });
    ch.on("close", (_code, reason) => {
      if (this.role === "primary" && !this.finished) void this.backupFailed(`the log channel closed (${reason})`);
    });
    const hb = setInterval(() => {
      if (this.role !== "primary") return clearInterval(hb);
      ch.send({ t: "hb" });
      if (this.detector!.suspect(this.now())) void this.backupFailed(`nothing heard from the backup for ${this.detector!.silentMs(this.now())} ms`);
    }, this.o.heartbeatMs);
    this.timers.push(hb);
  }

  private async backupFailed(why: string): Promise<void> {
    if (this.electing || this.role !== "primary") return;
    // Mark the election before anything else: terminating the channel below fires its
    // close handler, which must not start a second election.
    this.electing = true;
    this.peer?.terminate();
    const won = await this.electSelfAlone(`backup failed: ${why}`).catch((e) => {
      if (e instanceof HaltSignal) return false;
      throw e;
    });
    if (!won) return;
    // Alone: stop logging, release everything held.
    this.role = "alone";
    this.plog = undefined;
    this.toSink(this.gate.releaseAll());
    this.poke();
  }

  /** The primary's loop: run slices, hold output, ship the log, release what is acknowledged. */
  private async liveLoop(): Promise<void> {
    const m = this.machine;
    const runner = this.runner!;
    this.liveStartMs = performance.now();
    let lastFlush = this.now();
    let lastYield = lastFlush;
    for (;;) {
      this.maybeCrash();
      if (this.role === "halted") return;
      if (this.role === "primary" && (this.gate.full() || this.plog!.full())) {
        // Bounded buffers: pause execution until the backup catches up (nothing is dropped).
        this.flush();
        await this.sleep(50);
        continue;
      }
      const r = runner.step();
      const out = this.bus.console.drainOutput();
      if (out.length > 0) this.gate.hold({ icount: m.icount, offset: this.bus.console.drainedBytes - out.length, bytes: out, atMs: performance.now() });
      if (r === "halted" || r === "trapped" || r === "max-icount") {
        if (r === "max-icount") this.maybeCrash();
        await this.finishLive(r);
        return;
      }
      const now = this.now();
      if (this.gate.heldCount > 0 || now - lastFlush >= FLUSH_INTERVAL_MS || r === "waiting") {
        this.flush();
        lastFlush = now;
      }
      if (r === "waiting") {
        const deadline = this.live!.timerDeadline();
        await this.sleep(deadline === undefined ? 1000 : Math.max(0, (deadline - this.live!.nowUs()) / 1000));
        lastYield = this.now();
      } else if (now - lastYield >= YIELD_INTERVAL_MS || this.gate.heldCount > 0) {
        await new Promise<void>((res) => setImmediate(res));
        lastYield = this.now();
      }
    }
  }

  /** Ships the current batch to the backup (with a PROGRESS mark), or releases output when alone. */
  private flush(): void {
    if (this.role === "alone") {
      this.toSink(this.gate.releaseAll());
      return;
    }
    if (this.role !== "primary" || !this.plog || !this.peer) return;
    const batch = this.plog.takeBatch(this.machine.icount, () => this.live!.mark(EV.PROGRESS, null));
    if (!batch) return;
    this.peer.send({ t: "log", events: batch.map((e) => [e.lsn, e.icount, e.kind, e.data]), released: this.sinkDelivered });
    if (this.sentAt.length < 100_000) this.sentAt.push({ lsn: batch[batch.length - 1].lsn, at: performance.now() });
  }

  private async finishLive(reason: string): Promise<void> {
    this.runner!.end(reason);
    this.flush();
    // Everything must be acknowledged (or the backup gone) before the last output leaves.
    while (this.role === "primary" && this.plog && this.plog.ackedLsn < this.plog.lastLsn) await this.sleep(20);
    this.toSink(this.gate.releaseAll());
    while (this.o.sinkUrl && this.sinkDelivered < this.bus.console.drainedBytes) await this.sleep(20);
    this.finished = true;
    const trap = this.machine.trap;
    this.sink?.send({
      t: "done",
      host: this.id,
      reason,
      icount: this.machine.icount,
      epoch: this.epoch,
      delivered: this.sinkDelivered,
      trap,
      runMs: performance.now() - this.liveStartMs,
      logBytes: this.plog?.totalBytes ?? 0,
      logEvents: this.plog?.totalEvents ?? 0,
      outputLatencyMs: this.latencyMs.summary(),
      logRttMs: this.rttMs.summary(),
    });
    this.peer?.send({ t: "bye", reason });
    this.role = "halted";
    for (const t of this.timers) clearInterval(t);
    await new Promise((r) => setTimeout(r, 50));
    this.peer?.close("guest finished");
    this.sink?.close("guest finished");
    this.arbiter.close();
  }

  // ---- backup ----------------------------------------------------------------------

  async runBackup(o: BackupOptions): Promise<void> {
    await this.connectSink();
    let ch: Channel | undefined;
    for (let attempt = 0; !ch; attempt++) {
      try {
        ch = await connect(o.primaryUrl, o.secret, LOG_SERVICE);
      } catch (e) {
        if (attempt >= 100) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.peer = ch;
    ch.send({ t: "hello", host: this.id });
    // ws may emit several messages in one go (one TCP read), before an await resumes:
    // collect everything that arrives before the replay side is ready, then handle it.
    const early: Msg[] = [];
    const collect = (m: Msg) => early.push(m);
    ch.on("message", collect);
    const start = await new Promise<Msg>((resolve, reject) => {
      const check = () => (early.length ? resolve(early.shift()!) : setTimeout(check, 1));
      check();
      ch!.once("close", (_c, reason) => reject(new Error(`the primary closed the log channel before starting: ${reason}`)));
    });
    if (start.t !== "start" || !(start.image instanceof Uint8Array)) throw new Error(`expected start from the primary, got "${start.t}"`);
    const image = decodeImage(new Uint8Array(start.image), "image from the primary");
    this.machine = new Machine(image, { memBytes: start.memBytes as number, stackBytes: start.stackBytes as number });
    if (!o.interpret) attachEngine(this.machine);
    this.bus = new Bus(this.machine, undefined as never);
    this.epoch = start.epoch as number;
    this.role = "backup";
    const source = new QueueSource();
    const env = new ReplayEnv(this.bus, source);
    this.bus.env = env;
    const runner = new ReplayRunner(this.bus, env);
    this.detector = new FailureDetector(o.timeoutMs, this.now());
    let received = 0;
    let primaryReleased = 0;
    let primaryGone: string | undefined;
    let sawBye = false;
    // Output produced by replay that the sink may not have yet: re-sent if we go live.
    const pendingOut: HeldOutput[] = [];
    let pendingBytes = 0;
    const onMessage = (m: Msg) => {
      this.detector!.heard(this.now());
      if (m.t === "log") {
        let events: Event[];
        try {
          events = toEvents(m.events, 0);
        } catch (e) {
          return ch!.refuse(CLOSE_MALFORMED, (e as Error).message);
        }
        const fresh = events.filter((e) => e.lsn > received);
        if (fresh.length && fresh[0].lsn !== received + 1) return ch!.refuse(CLOSE_MALFORMED, `log gap: expected lsn ${received + 1}, got ${fresh[0].lsn}`);
        if (!source.push(fresh)) return ch!.refuse(CLOSE_REFUSED, `replay queue full (${source.capacityEvents} events)`);
        if (fresh.length) received = fresh[fresh.length - 1].lsn;
        if (typeof m.released === "number" && m.released > primaryReleased) primaryReleased = m.released;
        ch!.send({ t: "ack", lsn: received, icount: this.machine.icount });
        this.poke();
      } else if (m.t === "bye") {
        sawBye = true;
        this.poke();
      } else if (m.t !== "hb") ch!.refuse(CLOSE_MALFORMED, `unexpected "${m.t}" from the primary`);
    };
    ch.off("message", collect);
    ch.on("message", onMessage);
    for (const m of early.splice(0)) onMessage(m);
    ch.on("close", (_c, reason) => {
      if (!sawBye) primaryGone ??= `the log channel closed (${reason || "no reason"})`;
      this.poke();
    });
    const hb = setInterval(() => {
      ch!.send({ t: "hb", icount: this.machine.icount });
      if (!primaryGone && this.detector!.suspect(this.now())) {
        primaryGone = `nothing heard from the primary for ${this.detector!.silentMs(this.now())} ms`;
        this.poke();
      }
    }, o.heartbeatMs);
    this.timers.push(hb);
    this.startStatusTimer();
    this.news(`backup of epoch ${this.epoch} for ${o.primaryUrl}`, { event: "start" });

    let lastYield = this.now();
    let ended = false;
    for (;;) {
      this.maybeCrash();
      if (sawBye && ended) {
        this.finished = true;
        this.role = "halted";
        for (const t of this.timers) clearInterval(t);
        this.sink?.close("primary finished");
        this.arbiter.close();
        return;
      }
      if (primaryGone) break;
      if (pendingBytes > BACKUP_OUTPUT_BYTES_MAX) {
        await this.sleep(10);
        continue;
      }
      let r;
      try {
        const until = o.crashAtIcount ?? Number.MAX_SAFE_INTEGER;
        r = runner.step(this.machine.icount, until);
      } catch (e) {
        if (e instanceof DivergenceError) this.halt(`replay diverged: ${e.message}`, 1);
        throw e;
      }
      const out = this.bus.console.drainOutput();
      if (out.length) {
        pendingOut.push({ icount: this.machine.icount, offset: this.bus.console.drainedBytes - out.length, bytes: out });
        pendingBytes += out.length;
      }
      while (pendingOut.length && pendingOut[0].offset + pendingOut[0].bytes.length <= primaryReleased) pendingBytes -= pendingOut.shift()!.bytes.length;
      if (r === "end") ended = true;
      if (r === "needs-log" || r === "end" || r === "halted" || r === "trapped") {
        await this.sleep(ended ? 20 : 1000);
        lastYield = this.now();
      } else if (this.now() - lastYield >= YIELD_INTERVAL_MS) {
        await new Promise<void>((res) => setImmediate(res));
        lastYield = this.now();
      }
    }
    await this.goLive(primaryGone, runner, env, pendingOut);
  }

  private async goLive(why: string, runner: ReplayRunner, env: ReplayEnv, pendingOut: HeldOutput[]): Promise<void> {
    const detectedAt = this.now();
    const silentMs = this.detector!.silentMs(detectedAt);
    this.peer?.terminate();
    // Replay everything received: the guest reaches exactly the state the old primary
    // had at the last logged event (its last PROGRESS mark).
    let ended = false;
    for (;;) {
      const r = runner.step(this.machine.icount);
      const out = this.bus.console.drainOutput();
      if (out.length) pendingOut.push({ icount: this.machine.icount, offset: this.bus.console.drainedBytes - out.length, bytes: out });
      if (r === "end") ended = true;
      if (r === "needs-log" || r === "end" || r === "halted" || r === "trapped") break;
    }
    const replayedAt = this.now();
    await this.electSelfAlone(`primary failed: ${why}`);
    const liveAt = this.now();
    this.role = "alone";
    // The old primary may have released some of this output; the sink drops duplicates.
    this.toSink(pendingOut);
    this.gate.startAt(this.bus.console.drainedBytes);
    this.news(`went live at icount ${this.machine.icount} in epoch ${this.epoch}`, {
      event: "live",
      icount: this.machine.icount,
      silentMs,
      replayMs: replayedAt - detectedAt,
      electMs: liveAt - replayedAt,
      resent: pendingOut.reduce((n, c) => n + c.bytes.length, 0),
    });
    // Devices switch from replay to live; the timer re-arms from its programmed period.
    this.live = new LiveEnv(this.bus, realWorld(this.o.guestHostId), () => undefined, { firstLsn: env.lastLsn + 1, startUs: env.lastUs });
    this.bus.env = this.live;
    this.runner = new LiveRunner(this.bus, this.live, { maxIcount: this.o.crashAtIcount });
    if (ended || this.machine.halted || this.machine.trap) {
      await this.finishLive(this.machine.trap ? "trapped" : "halted");
      return;
    }
    await this.liveLoop();
  }
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

/** Thrown to unwind after halt() scheduled the exit. */
export class HaltSignal extends Error {}
