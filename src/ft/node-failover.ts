// Failure and elections: heartbeats and the failure detector, a closed channel, the peer
// declared failed, draining the received log, and the arbiter's answers (go live, go on
// alone, or halt). Functions over the node's state (see node.ts, which routes by role).
import type { TasResult } from "../arbiter/core.js";
import { LiveEnv } from "../replay/live.js";
import type { FtNode } from "./node.js";
import { UNPAIRED_CLAIM_RETRY_MS, RECONNECT_GRACE_HEARTBEATS, type Msg, type Action, type Role, type RunResult } from "./node-types.js";
import * as live from "./node-live.js";
import * as replay from "./node-replay.js";
import * as clone from "./node-clone.js";

/** The log channel closed (or was refused): the peer is gone. */
export function onPeerClosed(n: FtNode, reason: string, nowMs: number, closedHere = false): Action[] {
  // Catch-up: a closed channel between two live hosts may be a blip. The backup tries to
  // reconnect at once (a refused connection means the primary is gone: fail over then);
  // the primary keeps running, holds output and keeps the unacknowledged log for it. The
  // failure detector still decides if nothing is heard within the timeout.
  if (!n.peerFailed && !n.disconnected) {
    if (n.primaryPaired && !n.join && n.backupHost) {
      n.disconnected = true;
      n.disconnectedHere = closedHere;
      return [n.newsAction(`the log channel closed (${reason || "no reason"}); holding output while the backup may reconnect`, { event: "disconnected" })];
    }
    // After "bye" the primary finished: a closed channel is the normal end.
    if (n.role === "backup" && n.paired && !n.sawBye) {
      n.disconnected = true;
      return [{ kind: "reconnect", lsn: n.received }];
    }
  }
  return peerGone(n, `the log channel closed (${reason || "no reason"})`, nowMs);
}

export function onTasResult(n: FtNode, r: TasResult, nowMs: number): Action[] {
  if (n.join?.stage === "electing" && (n.role === "primary" || n.role === "finishing")) return clone.onPairTas(n, r, nowMs);
  if (n.role !== "electing") return [];
  if (!r.granted && n.electionFor === "live" && r.state.epoch === n.epoch + 1 && r.state.members.includes(n.cfg.id) && r.state.holder !== n.cfg.id) {
    // The primary won the pair's epoch with this backup in it, but its "paired" never
    // arrived: this host is a member of that epoch, so it may claim the next one.
    n.epoch = r.state.epoch;
    n.paired = true;
    return [n.newsAction(`the primary had paired with this host in epoch ${n.epoch}; claiming the next`, { event: "paired-backup" }), ...elect(n)];
  }
  const epoch = n.epoch + 1;
  if (!r.granted && n.electionFor === "live" && !n.paired && r.state.epoch === n.epoch) {
    // A cloned backup that is not paired yet is refused as no member. But its primary's
    // claim for the pair's epoch (with this host in it) may still be on its way or being
    // retried: if it is granted after we gave up, the pair's only survivor would have
    // halted. So ask again for a while; the refusal's state shows when we are a member.
    n.unpairedClaimSinceMs ??= nowMs;
    if (nowMs - n.unpairedClaimSinceMs < UNPAIRED_CLAIM_RETRY_MS) {
      n.retryElectAtMs = nowMs + n.cfg.timeoutMs;
      return [];
    }
  }
  if (!r.granted) return n.halt(`lost the test-and-set for epoch ${epoch} (${r.reason})`, 3, "lost-election");
  n.epoch = epoch;
  const actions: Action[] = [];
  if (n.electionFor === "alone") {
    // The backup failed: stop logging, release everything held, go on alone.
    n.role = "alone";
    n.plog = undefined;
    actions.push(n.newsAction(`won epoch ${epoch} alone: backup failed: ${n.peerFailed}`, { event: "alone" }));
    actions.push(...live.release(n, n.gate.releaseAll()));
    n.diskGate?.releaseAll();
    if (n.finishAfterElection) {
      // The guest stopped during the election: end the log (once) and finish alone.
      if (!n.endLogged) actions.push(...live.finish(n, n.finishReason, nowMs));
      else {
        n.role = "finishing";
        actions.push(...live.finishing(n, nowMs));
      }
    }
    return actions;
  }
  // The primary failed and we won: devices switch from replay to live; the timer re-arms
  // from its programmed period; the output the old primary may have released goes again
  // (the sink drops what it has).
  const env = n.replay!.env;
  const t = n.goLiveTimes!;
  const resent = n.pendingOut.reduce((n, c) => n + c.bytes.length, 0);
  // What the old primary knew had reached the sink did: a guest that already halted,
  // with nothing to re-send, finishes without waiting for an acknowledgement.
  if (n.primaryReleased > n.sinkDelivered) n.sinkDelivered = n.primaryReleased;
  actions.push(...live.release(n, n.pendingOut));
  // Kept, not taken: like any primary's released output it stays until the switch reports
  // it written, so a shell that has no switch channel now sends it when it connects
  // (found by the network simulator: ftvm sim --net --seed 32).
  const netResent = [...n.net.keptChunks()];
  if (netResent.length > 0) actions.push({ kind: "net-out", epoch, chunks: netResent });
  n.pendingOut = [];
  n.pendingBytes = 0;
  n.gate.startAt(n.bus.console.drainedBytes);
  n.replay = undefined;
  if (n.localReplay) {
    // Non-shared: everything replay performed has landed (see "draining"). The requests
    // the guest saw start but not complete are issued again by the new LiveEnv; restoring
    // the device's own state lists them as issued-but-unsubmitted (see Disk.setState).
    if (clone.imagePending(n)) return n.halt("won the epoch before the cloned disk image had landed: this host has no image to serve", 1, "no-state");
    n.localReplay = undefined;
    n.localDisk!.forgetAll();
    n.bus.disk.setState(n.bus.disk.getState());
  }
  live.becomeLive(n, env.lastLsn + 1, env.lastUs);
  n.tracer?.liveMark(epoch);
  n.tracer?.flush();
  n.role = "alone";
  actions.push(
    n.newsAction(`went live at icount ${n.machine.icount} in epoch ${epoch}: primary failed: ${n.peerFailed}`, {
      event: "live",
      icount: n.machine.icount,
      silentMs: Math.round(t.silentMs),
      replayMs: Math.round(t.replayedMs - t.detectedMs),
      electMs: Math.round(nowMs - t.replayedMs),
      resent,
    }),
  );
  if (n.replayEnded || n.machine.halted || n.machine.trap) actions.push(...live.finish(n, n.machine.trap ? "trapped" : "halted", nowMs));
  return actions;
}

/** Heartbeats and failure detection; call every heartbeatMs or so. */
export function tick(n: FtNode, nowMs: number): Action[] {
  const actions: Action[] = [];
  const paired = n.primaryPaired || n.role === "backup" || n.role === "joining";
  if (!paired || n.peerFailed) return actions;
  if (nowMs - n.lastHeartbeatMs >= n.cfg.heartbeatMs) {
    n.lastHeartbeatMs = nowMs;
    const msg: Msg =
      n.role === "backup" || n.role === "joining" ? { t: "hb", icount: n.machine.icount, lsn: n.received, idle: n.replayIdle } : { t: "hb", icount: n.machine.icount, sentLsn: n.plog?.sentLsn ?? 0 };
    actions.push({ kind: "send", msg });
  }
  if (n.detector!.suspect(nowMs)) actions.push(...peerGone(n, n.detector!.describe(nowMs), nowMs));
  else if (n.disconnected && !n.disconnectedHere && n.role !== "backup" && n.detector!.silentMs(nowMs) > reconnectGraceMs(n))
    // The channel closed and the backup, which reconnects at once when it lives, has not:
    // most likely its process died (its kernel closed the socket). Output is held
    // meanwhile, so this waits far less than the silence floor. Not when this host closed
    // the channel itself (a dropped channel): that close says nothing of the backup, which
    // on a busy machine may take longer than the grace to reconnect (ft-clone-e2e's
    // catch-up at load 28: the live backup was declared failed, then lost the test-and-set
    // and halted); the failure detector alone decides then.
    actions.push(...peerGone(n, `the log channel closed and the backup did not reconnect within ${reconnectGraceMs(n)} ms of this host's running time`, nowMs));
  return actions;
}

export function peerGone(n: FtNode, why: string, nowMs: number): Action[] {
  if (n.peerFailed || n.role === "halted" || n.role === "finished") return [];
  if (n.role === "backup" && n.sawBye) return [];
  n.peerFailed = why;
  const actions: Action[] = [{ kind: "cut", reason: why }];
  if (n.join && n.join.stage !== "requested" && (n.role === "primary" || n.role === "finishing")) {
    // A new backup failed while joining. Before the arbiter is asked, the pair never
    // existed and this host still holds its epoch alone; while it decides, wait for the
    // answer (if granted, the dead backup is a member and must be fenced by a new epoch).
    if (n.join.stage === "electing") {
      n.join.failed = why;
      return actions;
    }
    actions.push(...clone.cloneFailed(n, why, nowMs));
    return actions;
  }
  if (n.role === "joining") {
    actions.push(...n.halt(`the primary failed before the clone was complete (${why}): this host has no state to serve`, 3, "no-state"));
    return actions;
  }
  if (n.primaryPaired) {
    // Keep executing, but release nothing until the arbiter says we are alone.
    const finishing = n.role === "finishing";
    n.electionFor = "alone";
    actions.push(...elect(n));
    if (finishing) n.finishAfterElection = true;
    return actions;
  }
  if (n.role === "backup") {
    // Next run(): replay everything received, so the guest reaches exactly the state
    // the old primary had at its last logged point; the run after that claims the
    // next epoch (two calls, so the shell's clock readings split replay from election).
    n.goLiveTimes = { detectedMs: nowMs, silentMs: n.detector!.silentMs(nowMs), replayedMs: nowMs };
    n.role = "draining";
  }
  return actions;
}

/** How long a primary whose channel closed waits for its backup to reconnect (ms of its own running time). */
export function reconnectGraceMs(n: FtNode): number {
  return Math.min(n.cfg.timeoutMs, Math.max(RECONNECT_GRACE_HEARTBEATS * n.cfg.heartbeatMs, n.cfg.timeoutMs / 4));
}

export function elect(n: FtNode): Action[] {
  n.role = "electing";
  return [{ kind: "tas", req: { epoch: n.epoch + 1, host: n.cfg.id, members: [n.cfg.id] } }];
}

/** Electing: the old primary keeps executing while it waits for the arbiter (output stays held); a refused unpaired claim asks again later. */
export function runElecting(n: FtNode, nowMs: number): RunResult {
    // The old primary keeps executing while it waits (output stays held).
    if (n.electionFor === "alone" && !n.finishAfterElection) return live.runLive(n, nowMs);
    if (n.retryElectAtMs !== undefined) {
      if (nowMs < n.retryElectAtMs) return { actions: [], idle: true, wakeAtMs: n.retryElectAtMs };
      n.retryElectAtMs = undefined;
      return { actions: elect(n), idle: true };
    }
    return { actions: [], idle: true };
}

/** Draining: replay everything received, then (in a later call, so the clock splits replay from election) claim the next epoch. */
export function runDraining(n: FtNode, nowMs: number): RunResult {
    if (!n.drained) {
      // A backup whose cloned image has not landed cannot serve (nor replay): the
      // arbiter refuses it anyway, as it never paired.
      const actions = clone.imagePending(n) ? [] : replay.drainReplay(n);
      if ((n.role as Role) !== "draining") return { actions, idle: true };
      // Non-shared: a completion waits for the own disk; the shell wakes us when it settles.
      if (n.localReplay?.blocked) return { actions, idle: true };
      n.drained = true;
      return { actions, idle: false };
    }
    // Non-shared: what the backup performed for replay lands before it goes live.
    if (n.localDisk && n.localDisk.inFlight > 0 && !clone.imagePending(n)) return { actions: [], idle: true };
    // The log front (log-front.ts) acknowledged log this node never took in (its channel
    // was cut first): the old primary may have released output that depends on it, and
    // this host cannot reproduce it. Halting is safe; going live would not be.
    if (n.received < n.frontAckedLsn)
      return { actions: n.halt(`this backup acknowledged the log through lsn ${n.frontAckedLsn} but holds it only through ${n.received}: it cannot take over`, 3, "no-state"), idle: true };
    n.goLiveTimes!.replayedMs = nowMs;
    n.electionFor = "live";
    return { actions: elect(n), idle: true };
}
