// The host's side of its I/O thread (io-worker.ts): a backup's log channel to its primary
// lives there, and its log front acknowledges the primary's log as it arrives, while this
// thread runs the guest (issue 11, point 1). RemoteChannel stands for such a channel here,
// with the interface of a Channel (src/transport/channel.ts), so the host treats both alike.
//
// The one thing this thread must do for safety: before it decides anything that depends on
// what the backup has received (its failure detector's tick), or when it gives the channel
// up, it stops the front from acknowledging (hold / the CLOSED state) and takes every
// message the I/O thread has passed on (drain), since the front may have acknowledged
// them. Messages otherwise arrive through the event loop, in order, closes after them.
import { EventEmitter } from "node:events";
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import { startWorkerBeside } from "./worker-start.js";
import type { ChannelEvents, Msg } from "../transport/channel.js";
import { decodeMessage, log } from "../transport/channel.js";
import { type FrontInfo, type IoCommand, type IoEvent, SHARED_ACKED, SHARED_BATCHES, SHARED_BYTES, SHARED_EARLY, SHARED_FIGURES, SHARED_ICOUNT, SHARED_QUEUED, ST_ACKING, ST_CLOSED, ST_HELD, ST_OPEN } from "./io-shared.js";

/** The longest the host's thread waits, per try, for the I/O thread to finish one acknowledgement (it takes microseconds). */
const ACKING_WAIT_MS = 1;

export interface RemoteChannelEvents {
  /** A message, and what the log front made of it. */
  message: [Msg, FrontInfo?];
  close: ChannelEvents["close"];
}

/** A channel whose socket is on the I/O thread. */
export class RemoteChannel extends EventEmitter<RemoteChannelEvents> {
  private closed = false;
  private corks = 0;
  private corkedMsgs: Msg[] = [];
  private partition = false;
  bytesIn = 0;
  bytesOut = 0;
  /**
   * The number (FrontInfo.seq) of the last message the node has taken from this channel:
   * the host sets it before the node sees the message, and every send carries it, so the
   * front knows what the node's lsns in them account for (LogFront.onOutgoing).
   */
  taken = 0;
  private readonly state: Int32Array;
  private readonly figures: Float64Array;

  constructor(
    private readonly io: IoThread,
    readonly id: number,
    readonly peer: string,
    shared: SharedArrayBuffer,
  ) {
    super();
    this.state = new Int32Array(shared, 0, 1);
    this.figures = new Float64Array(shared, 8, SHARED_FIGURES);
  }

  /** The largest lsn the front acknowledged on this channel (final once it is closed). */
  get ackedMax(): number {
    return this.figures[SHARED_ACKED];
  }

  /** Log batches received on this channel, and those its front acknowledged on arrival. */
  get frontFigures(): { batches: number; early: number } {
    return { batches: this.figures[SHARED_BATCHES], early: this.figures[SHARED_EARLY] };
  }

  /** Where the backup stands, for the front's acknowledgements (call after every slice). */
  publish(icount: number, queuedEvents: number): void {
    this.figures[SHARED_ICOUNT] = icount;
    this.figures[SHARED_QUEUED] = queuedEvents;
  }

  /**
   * Stops early acknowledgements and takes in everything the I/O thread has passed on
   * (handlers run now), so a decision made next sees every acknowledged message. release()
   * lets the front go on.
   */
  hold(): void {
    if (this.closed) return;
    swap(this.state, ST_OPEN, ST_HELD);
    this.io.drain();
  }

  release(): void {
    // A partitioned channel stays held: this side drops what arrives, so nothing may be acknowledged.
    if (this.partition) return;
    Atomics.compareExchange(this.state, 0, ST_HELD, ST_OPEN);
  }

  get partitioned(): boolean {
    return this.partition;
  }
  set partitioned(on: boolean) {
    if (on && !this.partition) {
      // The cut falls between the wire and the node. What the I/O thread received before it
      // was on this side of the cut, and its front may have acknowledged it: the node takes
      // it now (hold drains the port). Dropped instead, the primary would count as received
      // what this backup never had, and the backup could not take over (FtNode.frontAckedLsn).
      // From here the word stays HELD, so nothing the I/O thread receives before it hears
      // of the partition is acknowledged either.
      this.hold();
    }
    this.partition = on;
    this.io.command({ op: "partition", id: this.id, on });
    if (!on) this.release();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  send<M extends { readonly t: string }>(m: M): void {
    if (this.closed || this.partition) return;
    if (this.corks > 0) this.corkedMsgs.push(m as unknown as Msg);
    else this.io.command({ op: "send", id: this.id, msgs: [m as unknown as Msg], taken: this.taken });
  }

  /** Messages sent until the matching uncork() go to the I/O thread together, and leave in one socket write. */
  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0) return;
    if (--this.corks > 0 || this.corkedMsgs.length === 0) return;
    const msgs = this.corkedMsgs;
    this.corkedMsgs = [];
    if (!this.closed) this.io.command({ op: "send", id: this.id, msgs, taken: this.taken });
  }

  refuse(code: number, reason: string): void {
    this.end({ op: "refuse", id: this.id, code, reason }, code, reason);
  }

  close(reason = "bye"): void {
    this.end({ op: "close", id: this.id, reason }, 1000, reason);
  }

  terminate(): void {
    this.end({ op: "terminate", id: this.id }, 1006, "terminated");
  }

  private end(c: IoCommand, code: number, reason: string): void {
    if (this.closed) return;
    this.uncorkAll();
    // CLOSED before the command: the front acknowledges nothing more, so ackedMax is final now.
    swap(this.state, -1, ST_CLOSED);
    this.io.command(c);
    this.onClosed(code, reason);
  }

  private uncorkAll(): void {
    if (this.corkedMsgs.length) this.io.command({ op: "send", id: this.id, msgs: this.corkedMsgs, taken: this.taken });
    this.corkedMsgs = [];
    this.corks = 0;
  }

  /** The I/O thread's report (or this side's own close). */
  onClosed(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.io.forget(this.id);
    this.emit("close", code, reason);
  }
}

/**
 * Moves the state word to `to`: from `from` (or from anything but CLOSED when from is
 * -1), waiting out an acknowledgement under way. A channel already CLOSED stays so.
 */
function swap(state: Int32Array, from: number, to: number): void {
  for (;;) {
    const s = Atomics.load(state, 0);
    if (s === ST_CLOSED || s === to) return;
    if (s === ST_ACKING) {
      Atomics.wait(state, 0, ST_ACKING, ACKING_WAIT_MS);
      continue;
    }
    if (from !== -1 && s !== from) return;
    if (Atomics.compareExchange(state, 0, s, to) === s) return;
  }
}

/** The I/O thread, started at the first connect. */
export class IoThread {
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private nextId = 1;
  private readonly channels = new Map<number, RemoteChannel>();
  private readonly connecting = new Map<number, { resolve(ch: RemoteChannel): void; reject(e: Error): void; shared: SharedArrayBuffer }>();

  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = startWorker(port2);
    // The host's run loop and its timers keep the process alive, never the I/O thread.
    this.worker.unref();
    this.worker.on("error", (e) => {
      // A programmer's error on the I/O thread: the host cannot go on without its channel.
      log(`the I/O thread failed: ${e.stack ?? e.message}`);
      process.exit(70);
    });
    port1.on("message", (e: IoEvent) => this.dispatch(e));
    port1.unref();
  }

  /** Connects and authenticates on the I/O thread (as transport's connect does here), with a log front watching the channel. */
  connect(url: string, secret: string, service: string, o: { timeoutMs?: number; queueEventsMax: number }): Promise<RemoteChannel> {
    const id = this.nextId++;
    const shared = new SharedArrayBuffer(SHARED_BYTES);
    return new Promise((resolve, reject) => {
      this.connecting.set(id, { resolve, reject, shared });
      this.command({ op: "connect", id, url, secret, service, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}), queueEventsMax: o.queueEventsMax, shared });
    });
  }

  command(c: IoCommand): void {
    this.port.postMessage(c);
  }

  /** Takes every event the I/O thread has posted, now (handlers run before this returns). */
  drain(): void {
    for (let r = receiveMessageOnPort(this.port); r; r = receiveMessageOnPort(this.port)) this.dispatch(r.message as IoEvent);
  }

  forget(id: number): void {
    this.channels.delete(id);
  }

  private dispatch(e: IoEvent): void {
    switch (e.op) {
      case "log":
        return log(e.line);
      case "connected": {
        const c = this.connecting.get(e.id);
        if (!c) return;
        this.connecting.delete(e.id);
        const ch = new RemoteChannel(this, e.id, e.peer, c.shared);
        this.channels.set(e.id, ch);
        return c.resolve(ch);
      }
      case "connect-failed": {
        const c = this.connecting.get(e.id);
        this.connecting.delete(e.id);
        return c?.reject(new Error(e.error));
      }
      case "message": {
        const ch = this.channels.get(e.id);
        if (!ch || !ch.isOpen || ch.partitioned) return;
        ch.bytesOut = e.bytesOut;
        ch.emit("message", e.raw ? decodeRelayed(e.raw) : e.m!, e.info);
        return;
      }
      case "close": {
        const ch = this.channels.get(e.id);
        if (!ch) return;
        ch.bytesOut = e.bytesOut;
        ch.onClosed(e.code, e.reason);
        return;
      }
    }
  }
}

let the: IoThread | undefined;

/** This process's I/O thread (started on first use). */
export function ioThread(): IoThread {
  return (the ??= new IoThread());
}

/** Starts io-worker (see worker-start.ts). */
function startWorker(port: MessagePort): Worker {
  return startWorkerBeside(import.meta.url, "io-worker", { workerData: { port }, transferList: [port] });
}


/**
 * A log batch the I/O thread passed on as its bytes (io-bytes.ts, frameBytes). That thread
 * decoded the very same bytes with the same decoder before it passed them on, so a failure
 * here is a bug, not a peer's fault.
 */
function decodeRelayed(raw: Uint8Array): Msg {
  const m = decodeMessage(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), true);
  if (typeof m === "string") throw new Error(`a log batch the I/O thread decoded does not decode here: ${m}`);
  return m;
}
