// The live side of an FT node (primary, or alone): execution, the log batches that
// follow it, the output rule (held until the backup has the log that covers it), the
// hand-over to a joiner, a reconnecting backup's missed log, and finishing. Functions over
// the node's state (see node.ts, which routes each input by role to these files).
import { ProtocolError } from "./protocol.js";
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import { LiveEnv } from "../replay/live.js";
import { LiveRunner, traceDelivered } from "../replay/session.js";
import { DiskGate } from "./diskgate.js";
import { withoutReadData } from "./localreplay.js";
import type { DiskCompletion } from "../devices/disk.js";
import { encodeImage } from "../vm/image.js";
import type { HeldOutput } from "./gate.js";
import { AckError, LOG_BATCH_BYTES_MAX, eventBytes } from "./primary.js";
import type { FtNode } from "./node.js";
import { FLUSH_INTERVAL_MS_DEFAULT, FLUSH_INTERVAL_QUIET_MS_DEFAULT, WAIT_FLUSH_GAP_MS, HELD_FLUSH_GAP_MS, PREFAULT_BYTES_PER_RUN, CRASH_WAIT_POLL_MS, CRASH_WAIT_MAX_MS, RESEND_EVENTS_PER_MESSAGE, type Msg, type Action, type JoinStage, type RunResult } from "./node-types.js";
import * as replay from "./node-replay.js";
import * as clone from "./node-clone.js";
import { batchDigests, digestAtLog } from "./state-check.js";

export function becomeLive(n: FtNode, firstLsn: number, startUs: number): void {
  n.net.startFrom(n.bus.nic);
  // A new LiveEnv lists every disk request started but not completed (the device's issued
  // requests): through this gate they are issued again, in the new epoch.
  let world = n.cfg.world;
  n.diskGate = undefined;
  if (n.localDisk) {
    // Non-shared: the own image, at once (see localdisk.ts for why no output rule).
    const w = n.cfg.world;
    world = { hostId: w.hostId, nowUs: () => w.nowUs(), random32: () => w.random32(), disk: n.localDisk, ...(w.net ? { net: w.net } : {}) };
  } else if (n.bus.disk.geometry.blocks > 0 && n.cfg.disk) {
    const w = n.cfg.world;
    n.diskGate = new DiskGate(n.cfg.disk, () => n.machine.icount, () => n.epoch);
    world = { hostId: w.hostId, nowUs: () => w.nowUs(), random32: () => w.random32(), disk: n.diskGate, ...(w.net ? { net: w.net } : {}) };
  }
  n.live = new LiveEnv(
    n.bus,
    world,
    (e: Event) => {
      // The state digest the backup checks at this event; only a host with a backup pays for it.
      if (n.plog) digestAtLog(n.machine, e);
      // --backup-reads: a read's bytes stay out of the log; the backup reads its own image.
      n.plog?.add(n.backupReads && e.kind === EV.DISK_DONE ? { ...e, data: withoutReadData(e.data as DiskCompletion) } : e);
      n.net.noteLogged(e, n.bus.nic);
      n.consoleIn.noteLogged(e);
      n.cfg.recorder?.add(e, n.epoch);
    },
    { firstLsn, startUs, unloggedRand: n.cfg.unloggedRand, stopAfterInput: !!n.tracer, onDelivered: n.tracer ? traceDelivered(n.tracer) : undefined },
  );
  n.bus.env = n.live;
  n.consoleIn.startFrom(n.bus.console.receivedBytes, n.bus.console.inputEnded());
  n.cfg.recorder?.open({ program: n.program, image: encodeImage(n.machine.image), memBytes: n.machine.memBytes, stackBytes: n.machine.stackBytes, disk: n.diskGeometry() });
  n.liveRunner = new LiveRunner(n.bus, n.live, { maxIcount: n.cfg.crashAtIcount, sliceIcount: n.cfg.sliceIcount, tracer: n.tracer });
}

/**
 * Primary: the backup reconnected having received the log through `lsn`. Returns the
 * actions (the log it missed) or the reason it cannot continue from there.
 */
export function acceptResume(n: FtNode, host: string, lsn: number, nowMs: number): Action[] | string {
  const paired = n.primaryPaired;
  if (!paired || n.peerFailed || n.join) return `this host is ${n.peerFailed ? "no longer paired" : n.role}, not a primary waiting for its backup`;
  if (host !== n.backupHost) return `host ${host} is not this primary's backup`;
  const events = n.plog!.resendAfter(lsn);
  if (!events) return `the log after lsn ${lsn} is no longer held here (acknowledged ${n.plog!.ackedLsn}, sent ${n.plog!.sentLsn})`;
  n.disconnected = false;
  n.detector!.heard(nowMs, false);
  const actions: Action[] = [{ kind: "send", msg: { t: "resumed", lsn } }];
  // Messages of at most RESEND_EVENTS_PER_MESSAGE events and about LOG_BATCH_BYTES_MAX
  // bytes (disk reads' data makes events large), far below the channel's message bound.
  for (let i = 0; i < events.length; ) {
    let j = i;
    let bytes = 0;
    while (j < events.length && j - i < RESEND_EVENTS_PER_MESSAGE && (j === i || bytes < LOG_BATCH_BYTES_MAX)) bytes += eventBytes(events[j++]);
    const part = events.slice(i, j);
    i = j;
    actions.push({ kind: "send", msg: { t: "log", events: part.map((e) => [e.lsn, e.icount, e.kind, e.data]), released: n.sinkDelivered, sd: batchDigests(part) } });
  }
  actions.push(n.newsAction(`the backup reconnected at lsn ${lsn}; re-sent ${events.length} events`, { event: "resumed", resent: events.length }));
  return actions;
}

/**
 * The joiner restored the copy and has received the log sent until then: the hand-over
 * begins. From here output waits for its acknowledgements again, and the pair's epoch is
 * claimed once it has the log through everything released as alone (see handoverActions).
 * Holding only from here, not from "restored", keeps the hold to about one round trip: at
 * "restored" the joiner still had the whole copy's log to take in (under load that took
 * it hundreds of ms, during which every client reply waited).
 */
export function caughtUpActions(n: FtNode, nowMs: number): Action[] {
  const j = n.join;
  if (j?.stage !== "cloning" || j.restoredLsn === undefined || n.role !== "primary" || n.plog!.ackedLsn < j.restoredLsn) return [];
  j.stage = "handover";
  return [...flush(n, nowMs), ...handoverActions(n)];
}

/** Hand-over: once the joiner has the log through all output released while it copied, claim the pair's epoch. */
export function handoverActions(n: FtNode): Action[] {
  const j = n.join;
  if (j?.stage !== "handover" || n.role !== "primary" || n.plog!.ackedIcount < j.releasedIcount) return [];
  j.stage = "electing";
  return [{ kind: "tas", req: { epoch: n.epoch + 1, host: n.cfg.id, members: [n.cfg.id, j.host] } }];
}

export function runLive(n: FtNode, nowMs: number): RunResult {
  const m = n.machine;
  // Where the primary stood at nowMs (the slice's start): the throttle's samples pair a
  // time with the icount at that time (see Throttle.sample).
  const icountAtStart = m.icount;
  if (n.cfg.crashAtIcount !== undefined && m.icount >= n.cfg.crashAtIcount) {
    if (!n.cfg.crashOnlyPaired || (n.role === "primary" && !n.join)) return { actions: [{ kind: "crash", icount: m.icount }], idle: true };
    n.crashWaitSinceMs ??= nowMs;
    if (nowMs - n.crashWaitSinceMs >= CRASH_WAIT_MAX_MS) {
      // No backup paired in all that time: a crash now would take the guest's only state.
      const at = n.cfg.crashAtIcount;
      n.cfg.crashAtIcount = undefined;
      n.liveRunner!.clearMaxIcount();
      return { actions: [n.newsAction(`the scripted crash at icount ${at} is skipped: no backup paired within ${CRASH_WAIT_MAX_MS / 1000} s of reaching it`, { event: "crash-skipped", icount: at })], idle: false };
    }
    // No paired backup yet (see crashOnlyPaired): keep the log flowing to a joiner and wait.
    if (!(n.join?.stage === "requested" && n.role === "alone")) return { actions: flush(n, nowMs), idle: true, wakeAtMs: nowMs + CRASH_WAIT_POLL_MS };
  }
  // A join waits for a boundary: this is one (a run() call never splits an instruction).
  // First the copy's buffer is touched, a piece per run between guest slices: touching
  // fresh memory costs page faults (about 10 ms per 16 MiB here), which would otherwise
  // all fall into the pause; with them out of the way the pause is one memcpy.
  if (n.join?.stage === "requested" && n.role === "alone") {
    const need = n.machine.memBytes;
    if (n.snapshotMem?.length !== need) {
      n.snapshotMem = new Uint8Array(need);
      n.snapshotMemReady = 0;
    }
    if (n.snapshotMemReady < need) {
      const end = Math.min(need, n.snapshotMemReady + PREFAULT_BYTES_PER_RUN);
      n.snapshotMem.fill(0, n.snapshotMemReady, end);
      n.snapshotMemReady = end;
    } else return { actions: clone.sendClone(n, nowMs), idle: false };
  }
  // Throttled: a message that woke the shell early does not cut the sleep short.
  if (n.role === "primary" && nowMs < n.throttledUntilMs) return { actions: [], idle: true, wakeAtMs: n.throttledUntilMs };
  const actions: Action[] = [];
  if ((n.plog && (n.gate.full() || n.net.full() || n.plog.full())) || n.net.keptFull()) {
    // Bounded buffers: pause execution until the backup catches up, or the switch
    // confirms the network output it has (nothing is dropped).
    actions.push(...flush(n, nowMs));
    return { actions, idle: true, wakeAtMs: nowMs + 50 };
  }
  const r = n.liveRunner!.step();
  const out = n.bus.console.drainOutput();
  if (out.length > 0) n.gate.hold({ icount: m.icount, offset: n.bus.console.drainedBytes - out.length, bytes: out, atMs: nowMs });
  n.net.hold(n.bus.nic.drainOutput(), m.icount);
  if (r === "max-icount" && n.cfg.crashAtIcount !== undefined && m.icount >= n.cfg.crashAtIcount) {
    // Crash without flushing: whatever the backup has not received is lost, as in a real crash.
    if (!n.cfg.crashOnlyPaired || (n.role === "primary" && !n.join)) {
      actions.push({ kind: "crash", icount: m.icount });
      return { actions, idle: true };
    }
    // Not paired: the next run() waits at the top for a backup.
    return { actions, idle: false };
  }
  if (r === "halted" || r === "trapped" || r === "max-icount") {
    if (n.role === "electing") {
      // Finish once the election is decided.
      n.finishAfterElection = true;
      n.finishReason = r;
      return { actions, idle: true };
    }
    actions.push(...finish(n, r, nowMs));
    return { actions, idle: true };
  }
  // Held output and held disk writes wait for the batch that covers them: one closes at
  // once when none is in flight or the guest now waits (for that output's answer, say),
  // else within HELD_FLUSH_GAP_MS (about one per round trip, so a guest that keeps
  // running does not pay a socket write at each end per slice); a batch also
  // closes once the disk reads' data in it passes LOG_BATCH_BYTES_MAX, and when the guest
  // waits (WFI) while something awaits the acknowledgement (ackAwaited) — but then at most
  // every WAIT_FLUSH_GAP_MS: a guest that waits on each disk request in turn would
  // otherwise send a batch, and get an acknowledgement, per request (diskmix.s did 10,000
  // round trips a run that way and ran at a third of its speed alone). A wait that could
  // not flush ends by the gap instead (see below). When nothing awaits the
  // acknowledgement (a non-shared disk's requests, timers, disk reads), a waiting guest's
  // batch closes at the flush interval like a running guest's: a batch every 2 ms bought
  // nothing but a backup a few ms closer behind, and cost the backup's I/O thread a
  // wake-up, a decode and an acknowledgement each (diskmix on a non-shared disk, steady
  // phase of 21,000 requests, five interleaved pairs: the backup's CPU 470 -> 390 ms at
  // the median, its I/O thread's 130 -> 100 ms; 2026-12-07).
  const flushIntervalMs = n.cfg.flushIntervalMs ?? (nothingWaits(n) ? FLUSH_INTERVAL_QUIET_MS_DEFAULT : FLUSH_INTERVAL_MS_DEFAULT);
  const sinceFlushMs = nowMs - n.lastFlushMs;
  if (
    (n.hasHeldOutput() && (n.plog === undefined || !n.plog.batchInFlight || r === "waiting" || sinceFlushMs >= HELD_FLUSH_GAP_MS)) ||
    sinceFlushMs >= flushIntervalMs ||
    (r === "waiting" && sinceFlushMs >= WAIT_FLUSH_GAP_MS && ackAwaited(n)) ||
    (n.plog !== undefined && n.plog.pendingBytes >= LOG_BATCH_BYTES_MAX)
  )
    actions.push(...flush(n, nowMs));
  if (n.plog && n.role === "primary") {
    // The backup trails: slow down (gradually) so the lag, and a failover's replay, stay bounded.
    n.throttle.sample(nowMs, icountAtStart);
    // Not while a joiner copies, though: it is no member and could not take over, so its
    // lag bounds no failover's replay; throttling for it only slowed the guest (and every
    // client reply) for as long as the copy took. The samples still count from the copy
    // on, so that its lag at the hand-over includes the time the copy took.
    const copying = n.join?.stage === "cloning";
    const sleep = copying ? 0 : n.throttle.sleepMs(nowMs, n.throttle.lagMs(nowMs, m.icount, n.plog.backupIcount));
    if (sleep > 0) {
      // A slice that ended waiting (WFI) sleeps too: its wake-up waits for the later of
      // the timer and the end of the sleep (see below and the top of runLive).
      n.throttledUntilMs = nowMs + sleep;
      // The backup catches up while we sleep: give it everything we have first.
      if (n.lastFlushMs !== nowMs) actions.push(...flush(n, nowMs));
      if (r !== "waiting") return { actions, idle: true, wakeAtMs: n.throttledUntilMs };
    }
  }
  if (r === "waiting") {
    const deadline = n.live!.timerDeadline();
    if (n.live!.hasPending()) return { actions, idle: false };
    const timerAtMs = deadline === undefined ? undefined : nowMs + Math.max(0, (deadline - n.live!.nowUs()) / 1000);
    let wakeAtMs = timerAtMs === undefined ? undefined : Math.max(timerAtMs, n.throttledUntilMs);
    // Whatever the guest did before it waited reaches the backup within WAIT_FLUSH_GAP_MS
    // when something awaits its acknowledgement, else within the flush interval (above).
    // Held output left unsent while a batch was in flight goes within HELD_FLUSH_GAP_MS.
    if (n.plog && !n.peerFailed && n.plog.hasUnsent(m.icount))
      wakeAtMs = Math.min(wakeAtMs ?? Infinity, n.lastFlushMs + (n.hasHeldOutput() ? HELD_FLUSH_GAP_MS : ackAwaited(n) ? WAIT_FLUSH_GAP_MS : flushIntervalMs));
    return { actions, idle: true, wakeAtMs };
  }
  return { actions, idle: false };
}

/**
 * Something awaits the acknowledgement of the log sent next: held output (console, network,
 * shared-disk writes), input its source keeps until it is durable, a joiner's hand-over, the
 * end, or a log near its bound. Disk completions, timers and progress alone are not awaited
 * by anyone: the backup replays them whenever they come, and on a non-shared disk no write
 * waits (each host writes its own image).
 */
export function ackAwaited(n: FtNode): boolean {
  const log = n.plog;
  if (log === undefined) return false;
  return n.hasHeldOutput() || log.pendingInputEvents > 0 || n.join !== undefined || n.endLogged || log.unackedBytes >= log.bufferBytesMax / 2;
}

/**
 * Nothing waits for the log's acknowledgement, and nothing but PROGRESS marks was logged
 * since the last batch: ackAwaited's stricter sibling (an empty batch has no input in it).
 * Then a batch may close less often (FLUSH_INTERVAL_QUIET_MS_DEFAULT) and its
 * acknowledgement may wait for the backup's next heartbeat (LogMsg.ackLazy); a batch of
 * timers or disk completions is acknowledged at once, as the throttle's samples of the
 * backup's progress come with those acknowledgements.
 */
export function nothingWaits(n: FtNode): boolean {
  return n.plog !== undefined && n.plog.pendingBytes === 0 && !ackAwaited(n);
}

/** Ships the current batch (with a PROGRESS mark), or releases output when alone. */
export function flush(n: FtNode, nowMs: number): Action[] {
  n.lastFlushMs = nowMs;
  // The trace reaches its file before the log that covers it leaves: a primary killed
  // later has traced every instruction its backup will replay.
  n.tracer?.flush();
  if (n.role === "alone") {
    n.diskGate?.releaseAll();
    return release(n, n.gate.releaseAll());
  }
  if (!n.plog || n.peerFailed) return [];
  // Asked before the batch closes: its PROGRESS mark is not yet among the pending events.
  const ackLazy = nothingWaits(n);
  const batch = n.plog.takeBatch(n.machine.icount, () => n.live!.mark(EV.PROGRESS, null));
  const actions: Action[] = batch ? [{ kind: "send", msg: { t: "log", events: batch.map((e) => [e.lsn, e.icount, e.kind, e.data]), released: n.sinkDelivered, sd: batchDigests(batch), ...(ackLazy ? { ackLazy } : {}) } }] : [];
  // A quiet batch (ackLazy) doubles as the primary's heartbeat: it comes as regularly
  // (every FLUSH_INTERVAL_QUIET_MS_DEFAULT, shorter than the heartbeat interval), and the
  // backup counts it as one (FtNode.onPeerMessage). A compute-bound primary so writes one
  // message per batch instead of a batch and a heartbeat: each socket write cost it about
  // 0.2 ms of CPU on these machines (a syscall and a wake-up of the peer), 90 a second.
  if (batch && ackLazy) n.lastHeartbeatMs = nowMs;
  if (n.join?.stage === "cloning" && n.role === "primary") {
    // The joiner is no member yet: release as if alone, and remember how far (see JoinStage).
    n.join.releasedIcount = n.machine.icount;
    n.diskGate?.releaseAll();
    actions.push(...release(n, n.gate.releaseAll()));
  }
  return actions;
}

export function release(n: FtNode, chunks: HeldOutput[]): Action[] {
  const actions: Action[] = [];
  for (const c of chunks) {
    n.unsunk.push(c);
    actions.push({ kind: "output", epoch: n.epoch, offset: c.offset, bytes: c.bytes, atMs: c.atMs });
  }
  actions.push(...netRelease(n));
  return actions;
}

/** Network output goes with console output: through the acknowledged icount, or all of it when alone. */
export function netRelease(n: FtNode): Action[] {
  if (n.net.heldCount === 0) return [];
  const cloning = n.join?.stage === "cloning" && n.role === "primary";
  const limit = !n.plog || n.role === "alone" || cloning ? Number.MAX_SAFE_INTEGER : n.peerFailed || n.role === "electing" ? -1 : n.plog.ackedIcount;
  const chunks = n.net.release(limit);
  // Kept until the switch says it wrote them (its marks trim them), so a clone taken
  // before then carries them: were this primary to die right after pairing, its new
  // backup re-sends them (the switch drops what it has).
  n.net.keep(chunks);
  return chunks.length > 0 ? [{ kind: "net-out", epoch: n.epoch, chunks }] : [];
}

export function finish(n: FtNode, reason: string, nowMs: number): Action[] {
  n.finishReason = reason;
  n.liveRunner!.end(reason);
  n.endLogged = true;
  const actions = flush(n, nowMs);
  n.role = "finishing";
  actions.push(...finishing(n, nowMs));
  return actions;
}

/** The guest stopped: the last output leaves once the log is acknowledged (or we are alone), then "done". */
export function finishing(n: FtNode, nowMs: number): Action[] {
  // A joiner that is no member yet (see JoinStage) need not have the log: the guest's
  // last output does not wait for it. Once the pair's epoch is being claimed, it must.
  const joinerOnly = n.join !== undefined && n.join.stage !== "electing";
  if (n.plog && !n.peerFailed && !joinerOnly && n.plog.ackedLsn < n.plog.lastLsn) return [];
  if (n.plog && n.peerFailed) return []; // the election decides
  n.diskGate?.releaseAll();
  const actions = release(n, n.gate.releaseAll());
  if (n.sinkDelivered < n.bus.console.drainedBytes) return actions;
  // Non-shared: "done" only once the own image holds every write (the launcher keeps it).
  if (n.localDisk && (n.localDisk.inFlight > 0 || n.localDisk.heldCount > 0)) return actions;
  n.role = "finished";
  actions.push({ kind: "send", msg: { t: "bye", reason: n.finishReason } });
  actions.push({
    kind: "done",
    data: { reason: n.finishReason, icount: n.machine.icount, epoch: n.epoch, delivered: n.sinkDelivered, trap: n.machine.trap, logBytes: n.plog?.totalBytes ?? 0, logEvents: n.plog?.totalEvents ?? 0, lagMsMax: n.throttle.lagMsMax, throttleMax: n.throttle.levelMax },
  });
  return actions;
}

/** A message from the backup (acknowledgements, heartbeats, a joiner's "restored"), while this node logs to it. */
export function onBackupMessage(n: FtNode, m: Msg, nowMs: number): Action[] {
    // The backup's heartbeats carry its received lsn too: a cumulative ack that covers
    // a lost last acknowledgement.
    if (m.t === "ack" || (m.t === "hb" && m.lsn !== undefined)) {
      if (!Number.isSafeInteger(m.lsn) || !Number.isSafeInteger(m.icount)) throw new ProtocolError(`${m.t} needs lsn and icount`);
      try {
        n.plog!.onAck(m.lsn as number, m.icount as number);
      } catch (e) {
        if (e instanceof AckError) throw new ProtocolError(e.message);
        throw e;
      }
      // A heartbeat says whether the backup had replayed everything it had: the throttle
      // must not read a backup that waits for log as a slow one.
      if (m.t === "hb") n.throttle.backupReport(m.idle === true);
      // While electing, the backup may be about to go live: nothing is released until we win.
      if (n.role === "electing") return [];
      n.diskGate?.release(n.plog!.heldIcount);
      return [...release(n, n.gate.release(n.plog!.ackedIcount)), ...caughtUpActions(n, nowMs), ...handoverActions(n)];
    }
    if (m.t === "hb") return [];
    // The guest finished while the joiner copied: there is no pair to form any more.
    if (m.t === "restored" && n.join?.stage === "cloning" && n.role === "finishing") return [];
    if (m.t === "restored" && n.join?.stage === "cloning" && n.role === "primary" && n.join.restoredLsn === undefined) {
      // The new backup holds the copy. The log sent while it copied is still on its way to
      // it: output goes on as alone until it has received that much (see caughtUpActions).
      const actions = flush(n, nowMs);
      n.join.restoredLsn = n.plog!.sentLsn;
      return [...actions, ...caughtUpActions(n, nowMs)];
    }
    throw new ProtocolError(`unexpected "${m.t}" from the backup`);
}
