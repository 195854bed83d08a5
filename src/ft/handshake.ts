// The log channel's handshake, decided in one place for every shell (the socket host,
// the simulator, the tests' cluster): what a host answers to a "hello" (a first backup,
// a joiner, a backup resuming after its channel closed), what a reconnecting backup
// makes of the answer, and the primary's claim of its first epoch. The shells only move
// bytes and carry out what these functions decide.
//
// Pure: no sockets, no clocks.
import type { TasRequest, TasResult } from "../arbiter/core.js";
import { otherCluster } from "../arbiter/core.js";
import type { Action, FtNode, StartPrimary } from "./node.js";
import { type HelloMsg, LOG_PROTOCOL_VERSION, type PeerMsg, ProtocolError, parsePeerMsg } from "./protocol.js";

/** What to do with a new log channel, given its first message. */
export type HelloVerdict =
  /** Close the channel with this reason: "malformed" for a broken peer, "refused" for one that may not join now. */
  | { kind: "refuse"; code: "malformed" | "refused"; reason: string }
  /** Before the first epoch: the primary's claim takes this backup into the pair (see firstEpochRequest). */
  | { kind: "first"; host: string }
  /** The paired backup is back: this channel replaces the old one; carry out the actions (the log it missed). */
  | { kind: "resume"; host: string; lsn: number; actions: Action[] }
  /** A new backup joins this primary running alone: this channel is the log channel; the next run() clones. */
  | { kind: "join"; host: string };

export interface HelloContext {
  /** The cluster this host belongs to: a peer of another is refused. */
  cluster: string;
  /** The host is exiting (its guest finished or it halted): nobody joins it. */
  exiting?: boolean;
  /** Before the first epoch: whether this host still takes a first backup (a reason if not). */
  firstBackup?: (host: string) => string | undefined;
}

/** The hello a backup sends on a new log channel. */
export function helloMsg(host: string, cluster: string, resume?: number): HelloMsg {
  return { t: "hello", v: LOG_PROTOCOL_VERSION, host, cluster, ...(resume !== undefined ? { resume } : {}) };
}

/** The listening host's answer to the first message on a new log channel. */
export function answerHello(node: FtNode, raw: { readonly t: string }, ctx: HelloContext, nowMs: number): HelloVerdict {
  if (raw.t !== "hello") return { kind: "refuse", code: "malformed", reason: `expected hello, got "${String(raw.t)}"` };
  let m: PeerMsg;
  try {
    m = parsePeerMsg(raw);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    // Another version is a peer that may be fine, just not for us: refused, not malformed.
    return { kind: "refuse", code: (raw as { v?: unknown }).v === LOG_PROTOCOL_VERSION ? "malformed" : "refused", reason: e.message };
  }
  const hello = m as HelloMsg;
  if (hello.cluster !== ctx.cluster) return { kind: "refuse", code: "refused", reason: otherCluster(`backup ${hello.host}`, hello.cluster, ctx.cluster) };
  if (ctx.exiting) return { kind: "refuse", code: "refused", reason: "this host is exiting" };
  if (node.role === "idle") {
    const why = ctx.firstBackup ? ctx.firstBackup(hello.host) : "this host is not a primary";
    return why ? { kind: "refuse", code: "refused", reason: why } : { kind: "first", host: hello.host };
  }
  if (hello.resume !== undefined) {
    const r = node.acceptResume(hello.host, hello.resume, nowMs);
    if (typeof r === "string") return { kind: "refuse", code: "refused", reason: `cannot resume: ${r}` };
    return { kind: "resume", host: hello.host, lsn: hello.resume, actions: r };
  }
  const why = node.acceptJoin(hello.host, nowMs);
  if (why) return { kind: "refuse", code: "refused", reason: `cannot join: ${why}` };
  return { kind: "join", host: hello.host };
}

/** A reconnecting backup's verdict on the first message of its new channel: undefined when taken back, else why not. */
export function resumeAnswerProblem(m: { t: string }): string | undefined {
  return m.t === "resumed" ? undefined : `expected resumed, got "${m.t}"`;
}

/** The primary's claim of its first epoch: the one after the arbiter's, for itself and the backup it waited for (if any). */
export function firstEpochRequest(arbiterEpoch: number, self: string, backup?: string): TasRequest {
  return { epoch: arbiterEpoch + 1, host: self, members: backup ? [self, backup] : [self] };
}

/**
 * The arbiter's answer to the first claim: granted, the node starts as primary (with its
 * backup, or alone); refused, it halts with the arbiter's reason and the shell refuses the
 * waiting backup.
 */
export function onFirstEpochAnswer(node: FtNode, req: TasRequest, r: TasResult, start: Omit<StartPrimary, "epoch" | "withBackup" | "backupHost">, nowMs: number): { granted: boolean; actions: Action[] } {
  if (!r.granted)
    return {
      granted: false,
      actions: [
        { kind: "news", text: `halting: the arbiter refused epoch ${req.epoch}: ${r.reason}`, data: { event: "halt", cause: "lost-election" } },
        { kind: "halt", reason: r.reason ?? "refused", code: 3, cause: "lost-election" },
      ],
    };
  const backup = req.members.find((h) => h !== req.host);
  return { granted: true, actions: node.startPrimary({ ...start, epoch: req.epoch, withBackup: backup !== undefined, backupHost: backup }, nowMs) };
}

/**
 * The shell halts its host for a reason the node cannot see (an arbiter, sink, switch or
 * disk server of another cluster, or a refusal for good): the same actions in every shell.
 */
export function shellHalt(reason: string, epoch: number): Action[] {
  return [
    { kind: "news", text: `halting: ${reason}`, data: { event: "halt", cause: "refused", role: "halted", epoch } },
    { kind: "halt", reason, code: 3, cause: "refused" },
  ];
}
