// The backup's side of an FT node: starting from the primary's "start", the log it
// receives and acknowledges, replay, divergence, and reconnecting after a dropped channel.
// Functions over the node's state (see node.ts, which routes each input by role).
import { type LogMsg, ProtocolError } from "./protocol.js";
import type { Event } from "../devices/events.js";
import { toEvents } from "../replay/logformat.js";
import { DivergenceError, ReplayEnv } from "../replay/replay.js";
import { ReplayRunner } from "../replay/session.js";
import { QueueSource } from "../replay/source.js";
import { LocalReplaySource } from "./localreplay.js";
import { decodeImage } from "../vm/image.js";
import { FailureDetector } from "./detector.js";
import type { FtNode } from "./node.js";
import { BACKUP_OUTPUT_BYTES_MAX, InvariantError, type Msg, type Action, type RunResult } from "./node-types.js";
import * as clone from "./node-clone.js";
import * as failover from "./node-failover.js";
import { StateCheck, StateDivergence } from "./state-check.js";

/** A backup starts from the primary's "start" message. Throws on a malformed one (the shell refuses the peer). */
export function startBackup(n: FtNode, m: Msg, nowMs: number): Action[] {
  if (m.t === "clone") return clone.startClone(n, m, nowMs);
  if (m.t !== "start" || !(m.image instanceof Uint8Array) || !Number.isSafeInteger(m.epoch)) throw new ProtocolError(`expected start from the primary, got "${m.t}"`);
  n.boot(decodeImage(new Uint8Array(m.image), "image from the primary"), m.memBytes as number, m.stackBytes as number, n.peerDisk(m.disk, m.diskMode));
  n.backupReads = n.localDisk !== undefined && m.backupReads === true;
  n.epoch = m.epoch as number;
  n.role = "backup";
  n.program = typeof m.program === "string" ? m.program : "";
  n.tracer = n.cfg.tracer?.(n.machine, { role: "backup", epoch: n.epoch, program: n.program, image: new Uint8Array(m.image) });
  startReplay(n);
  n.detector = new FailureDetector({ timeoutMs: n.cfg.timeoutMs, heartbeatMs: n.cfg.heartbeatMs }, nowMs);
  return [n.newsAction(`backup of epoch ${n.epoch}`, { event: "start" })];
}

/** The replay environment, reading from a new queue (through the own disk with a non-shared disk). */
export function startReplay(n: FtNode): ReplayEnv {
  const source = new QueueSource();
  n.localReplay = n.localDisk ? new LocalReplaySource(source, n.bus, n.localDisk, n.backupReads) : undefined;
  // The primary's state digest at every event is compared as the event is consumed (issue 13.4).
  const check = (n.stateCheck = new StateCheck(n.machine));
  const env = new ReplayEnv(n.bus, n.localReplay ?? source, { stopAfterInput: !!n.tracer, onConsume: (ev) => check.verify(ev) });
  n.bus.env = env;
  n.replay = { env, source, runner: new ReplayRunner(n.bus, env, { sliceIcount: n.cfg.sliceIcount, tracer: n.tracer }) };
  return env;
}

export function onLog(n: FtNode, m: LogMsg): Action[] {
  let events: Event[];
  try {
    events = toEvents(m.events, 0);
  } catch (e) {
    throw new ProtocolError((e as Error).message);
  }
  const fresh = events.filter((e) => e.lsn > n.received);
  if (fresh.length && fresh[0].lsn !== n.received + 1) throw new ProtocolError(`log gap: expected lsn ${n.received + 1}, got ${fresh[0].lsn}`);
  if (!n.replay!.source.push(fresh)) throw new ProtocolError(`replay queue full (${n.replay!.source.capacityEvents} events)`);
  n.stateCheck?.note(fresh, m.sd?.slice(events.length - fresh.length));
  if (fresh.length) n.received = fresh[fresh.length - 1].lsn;
  if (typeof m.released === "number" && m.released > n.primaryReleased) n.primaryReleased = m.released;
  // Acknowledgements are coalesced, not dropped: a batch that nothing waits for is covered
  // by the next heartbeat (within heartbeatMs), which carries the same cumulative lsn and
  // this replay's icount. On a compute-bound guest that halves the messages per batch.
  if (m.front) {
    // The log front computed where this node stands after the message, and may have
    // acknowledged it already: the two must agree, or an acknowledgement lied.
    if (n.received !== m.front.lsn) throw new InvariantError(`log front: it has this backup at lsn ${m.front.lsn} after the batch, the backup is at ${n.received}`);
    if (m.front.acked) {
      n.frontAckedLsn = Math.max(n.frontAckedLsn, m.front.lsn);
      return [];
    }
  }
  if (m.ackLazy === true) return [];
  return [{ kind: "send", msg: { t: "ack", lsn: n.received, icount: n.machine.icount } }];
}

/** Backup: the primary took us back on a new channel. */
export function onResumed(n: FtNode, nowMs: number): Action[] {
  if (!n.disconnected || n.role !== "backup") return [];
  n.disconnected = false;
  n.detector!.heard(nowMs, false);
  return [n.newsAction(`reconnected to the primary at lsn ${n.received}`, { event: "resumed" }), { kind: "send", msg: { t: "ack", lsn: n.received, icount: n.machine.icount } }];
}

/** Backup: reconnecting failed (nobody listens, or no answer): the primary is gone. */
export function onReconnectFailed(n: FtNode, reason: string, nowMs: number): Action[] {
  if (!n.disconnected) return [];
  n.disconnected = false;
  return failover.peerGone(n, `the log channel closed and reconnecting failed (${reason})`, nowMs);
}

/**
 * Backup: the primary is alive but will not take us back (it gave up on us and is
 * going on alone). Let the arbiter decide: if the primary already won an epoch without
 * us, our claim is refused and we halt (a new backup is cloned in); if it has not, and
 * dies before it does, we are the epoch's only surviving member and must be able to serve.
 */
export function onResumeRefused(n: FtNode, reason: string, nowMs: number): Action[] {
  if (!n.disconnected) return [];
  n.disconnected = false;
  return failover.peerGone(n, `the primary refused to resume (${reason})`, nowMs);
}

export function runReplay(n: FtNode): RunResult {
  const rp = n.replay!;
  if (clone.imagePending(n)) return { actions: [], idle: true };
  if (n.restoredUnsent) return { actions: clone.restoredActions(n), idle: false };
  if (n.sawBye && n.replayEnded) {
    n.role = "finished";
    return { actions: [], idle: true };
  }
  if (n.pendingBytes > BACKUP_OUTPUT_BYTES_MAX || n.net.keptFull()) return { actions: [], idle: true };
  const until = n.cfg.crashAtIcount ?? Number.MAX_SAFE_INTEGER;
  if (n.machine.icount >= until) return { actions: [{ kind: "crash", icount: n.machine.icount }], idle: true };
  let r;
  try {
    r = rp.runner.step(n.machine.icount, until);
  } catch (e) {
    if (e instanceof DivergenceError) return { actions: diverged(n, e), idle: true };
    throw e;
  }
  collectReplayOutput(n);
  // Requests this slice issued go to the own disk now, not at the next completion.
  n.localReplay?.submitIssued();
  if (r === "end") n.replayEnded = true;
  const idle = r === "needs-log" || r === "end" || r === "halted" || r === "trapped";
  // Waiting for the own disk is not waiting for log: the throttle must see a slow backup.
  n.replayIdle = idle && !n.localReplay?.blocked;
  return { actions: [], idle };
}

export function collectReplayOutput(n: FtNode): void {
  // Drained after every replay step, as on the primary: the card's stop-before-full rule depends on it.
  n.net.keep(n.bus.nic.drainOutput());
  const out = n.bus.console.drainOutput();
  if (out.length) {
    n.pendingOut.push({ icount: n.machine.icount, offset: n.bus.console.drainedBytes - out.length, bytes: out });
    n.pendingBytes += out.length;
  }
  while (n.pendingOut.length && n.pendingOut[0].offset + n.pendingOut[0].bytes.length <= n.primaryReleased)
    n.pendingBytes -= n.pendingOut.shift()!.bytes.length;
}

export function drainReplay(n: FtNode): Action[] {
  const rp = n.replay!;
  for (;;) {
    let r;
    try {
      r = rp.runner.step(n.machine.icount);
    } catch (e) {
      if (e instanceof DivergenceError) return diverged(n, e);
      throw e;
    }
    collectReplayOutput(n);
    if (r === "end") n.replayEnded = true;
    if (r === "needs-log" || r === "end" || r === "halted" || r === "trapped") return [];
  }
}

/** Replay diverged from the primary's log: say where (the launcher's policy decides what follows), and halt. */
export function diverged(n: FtNode, e: DivergenceError): Action[] {
  // A state digest that differs: the backup stands at the event, so its pc is where to look.
  const pc = e instanceof StateDivergence ? n.machine.pc : e.pc;
  const line = pc !== undefined ? n.machine.image.lines[pc] : undefined;
  const where = `icount ${e.icount}${pc !== undefined ? `, pc ${pc}` : ""}${line ? ` [${line}]` : ""}`;
  return [n.newsAction(`divergence at ${where}: ${e.message}`, { event: "divergence", icount: e.icount, ...(pc !== undefined ? { pc } : {}), ...(line ? { line } : {}), ...(e instanceof StateDivergence && e.mismatch.agreed ? { agreedIcount: e.mismatch.agreed.icount } : {}), reason: e.message }), ...n.halt(`replay diverged: ${e.message}`, 1, e.cause === "own-disk" ? "disk-failed" : "diverged")];
}

/** A message from the primary while replaying. */
export function onPrimaryMessage(n: FtNode, m: Msg): Action[] {
    if (m.t === "log") return onLog(n, m);
    if (m.t === "clone-disk") return clone.onCloneDisk(n, m);
    if (m.t === "paired") {
      if (n.paired || m.epoch !== n.epoch + 1) throw new ProtocolError(`unexpected paired for epoch ${String(m.epoch)} (this backup: epoch ${n.epoch}${n.paired ? ", paired" : ""})`);
      n.epoch = m.epoch as number;
      n.paired = true;
      return [n.newsAction(`paired with the primary in epoch ${n.epoch}: ready to take over`, { event: "paired-backup" })];
    }
    if (m.t === "bye") {
      n.sawBye = true;
      return [];
    }
    if (m.t === "hb") {
      // The primary's heartbeat says how far it has sent: on an ordered channel, anything
      // beyond what arrived was lost without the connection closing. Cut rather than wait.
      if (typeof m.sentLsn === "number" && m.sentLsn > n.received)
        throw new ProtocolError(`log lost: the primary sent through lsn ${m.sentLsn}, only ${n.received} arrived`);
      return [];
    }
    throw new ProtocolError(`unexpected "${m.t}" from the primary`);
}
