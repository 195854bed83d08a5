// The one driver of an FT node: it carries out the actions the pure node returns over a
// narrow interface (NodeIo), which each shell implements once: real sockets and timers
// (src/host/ft-host.ts), the simulator's seeded network (src/sim/sim.ts), and the tests'
// in-memory cluster (test/support/cluster.ts). What an action means, and when carrying
// out a batch stops, is decided here and nowhere else.
//
// Pure: no sockets, no clocks.
import type { TasRequest } from "../arbiter/core.js";
import type { Action, HaltCause } from "./node.js";
import type { PeerMsg } from "./protocol.js";

type Of<K extends Action["kind"]> = Extract<Action, { kind: K }>;

/**
 * What a shell does for its node. Each method may return false to stop carrying out the
 * rest of the batch (the host crashed or stopped: nothing after it happens).
 */
export interface NodeIo {
  /** Send to the peer over the log channel (in order). */
  send(msg: PeerMsg): boolean | void;
  /** Drop the log channel: the peer is considered failed. */
  cut(reason: string): boolean | void;
  /** Ask the arbiter; answer with node.onTasResult (retrying while it is unreachable). */
  tas(req: TasRequest): boolean | void;
  /** Give output to the console sink; answer with node.onSinkAck. */
  output(a: Of<"output">): boolean | void;
  /** Give released network output to the virtual switch. */
  netOut(a: Of<"net-out">): boolean | void;
  news(text: string, data: Record<string, unknown>): boolean | void;
  /** The guest finished and all its output reached the sink. */
  done(data: Record<string, unknown>): boolean | void;
  /** Stop the host (the batch ends here whatever the method returns). */
  halt(reason: string, code: number, cause: HaltCause): void;
  /** Crash on purpose, without cleanup (the batch ends here whatever the method returns). */
  crash(icount: number): void;
  /** The backup's log channel closed: reconnect and answer with onResumed / onResumeRefused / onReconnectFailed. */
  reconnect(lsn: number): boolean | void;
  /** Seen before every action (the simulator's planned crashes hook in here); false stops the batch before it. */
  before?(a: Action): boolean;
  /** After the batch (e.g. the network link's one flush). */
  after?(): void;
}

/** Carries out a node's actions in order, stopping where the shell says the host is gone. */
export function carryOut(actions: readonly Action[], io: NodeIo): void {
  for (const a of actions) {
    if (io.before && !io.before(a)) return;
    let go: boolean | void = true;
    switch (a.kind) {
      case "send":
        go = io.send(a.msg);
        break;
      case "cut":
        go = io.cut(a.reason);
        break;
      case "tas":
        go = io.tas(a.req);
        break;
      case "output":
        go = io.output(a);
        break;
      case "net-out":
        go = io.netOut(a);
        break;
      case "news":
        go = io.news(a.text, a.data);
        break;
      case "done":
        go = io.done(a.data);
        break;
      case "halt":
        io.halt(a.reason, a.code, a.cause);
        go = false;
        break;
      case "crash":
        io.crash(a.icount);
        go = false;
        break;
      case "reconnect":
        go = io.reconnect(a.lsn);
        break;
    }
    if (go === false) break;
  }
  io.after?.();
}
