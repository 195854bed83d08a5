// The I/O thread's code (a worker_threads worker; src/host/io-thread.ts starts it and
// speaks for it on the host's thread). It holds the backup's log channel to its primary:
// the socket, the WebSocket framing and decoding, and the log front (src/ft/log-front.ts),
// which acknowledges each log batch the moment it arrives. This thread sleeps in the
// event loop until a message comes, so the kernel runs it at once, while the host's
// thread replays the guest flat out and, on a busy machine, waits its turn for a CPU
// (tools/bench/io-thread.ts measured the difference: round trip p50 0.28 ms against
// 1.2-2.8 ms with a busy guest and one more busy process beside).
//
// What makes it safe: an acknowledgement is sent only while the shared state word says
// ACKING, and the message it covers is posted to the host's thread before the word goes
// back to OPEN; the host's thread, before it decides on what it has received, moves the
// word away from OPEN (waiting out ACKING) and takes everything posted (see io-thread.ts).
import { type MessagePort, workerData } from "node:worker_threads";
import { LogFront } from "../ft/log-front.js";
import { frameBytes, handOver } from "./io-bytes.js";
import { type Channel, connect } from "../transport/channel.js";
import { type FrontInfo, type IoCommand, type IoEvent, ST_ACKING, ST_CLOSED, ST_OPEN, SHARED_ACKED, SHARED_BATCHES, SHARED_EARLY, SHARED_FIGURES, SHARED_ICOUNT, SHARED_QUEUED } from "./io-shared.js";

const port = (workerData as { port: MessagePort }).port;

interface Open {
  ch: Channel;
  front: LogFront;
  state: Int32Array;
  figures: Float64Array;
  queueEventsMax: number;
}
const open = new Map<number, Open>();

function post(e: IoEvent): void {
  port.postMessage(e);
}

port.on("message", (c: IoCommand) => {
  switch (c.op) {
    case "connect": {
      const state = new Int32Array(c.shared, 0, 1);
      const figures = new Float64Array(c.shared, 8, SHARED_FIGURES);
      connect(c.url, c.secret, c.service, { timeoutMs: c.timeoutMs, log: (line) => post({ op: "log", line }) }).then(
        (ch) => {
          const o: Open = { ch, state, figures, queueEventsMax: c.queueEventsMax, front: new LogFront() };
          open.set(c.id, o);
          ch.on("message", (m) => onMessage(c.id, o, m, ch.frame, ch.frameWhole));
          ch.on("close", (code, reason) => {
            open.delete(c.id);
            // Closed here first: from now on nothing is acknowledged, so the front's figure is final.
            Atomics.store(state, 0, ST_CLOSED);
            Atomics.notify(state, 0);
            post({ op: "close", id: c.id, code, reason, bytesOut: ch.bytesOut });
          });
          post({ op: "connected", id: c.id, peer: ch.peer });
        },
        (e: Error) => post({ op: "connect-failed", id: c.id, error: e.message }),
      );
      return;
    }
    case "send": {
      const o = open.get(c.id);
      if (!o) return;
      o.ch.cork();
      for (const m of c.msgs) {
        o.front.onOutgoing(m, c.taken);
        o.ch.send(m);
      }
      o.ch.uncork();
      return;
    }
    case "partition": {
      const o = open.get(c.id);
      if (o) o.ch.partitioned = c.on;
      return;
    }
    case "close":
      return open.get(c.id)?.ch.close(c.reason);
    case "refuse":
      return open.get(c.id)?.ch.refuse(c.code, c.reason);
    case "terminate":
      return open.get(c.id)?.ch.terminate();
  }
});

function onMessage(id: number, o: Open, m: { t: string; [k: string]: unknown }, frame: Buffer | undefined, frameWhole: boolean): void {
  // Acknowledging is allowed only while the host's thread leaves the channel OPEN; the
  // word says ACKING until the message is on its way to that thread and the
  // acknowledgement is handed to the socket (the host's thread waits that out).
  const mine = Atomics.compareExchange(o.state, 0, ST_OPEN, ST_ACKING) === ST_OPEN;
  const v = o.front.onIncoming(m, { icount: o.figures[SHARED_ICOUNT], queuedEvents: o.figures[SHARED_QUEUED], queueEventsMax: o.queueEventsMax, ackAllowed: mine });
  if (m.t === "log") o.figures[SHARED_BATCHES]++;
  if (v.ack) {
    o.figures[SHARED_EARLY]++;
    // What was sent, not what the front believes: the take-over rule rests on this figure.
    o.figures[SHARED_ACKED] = Math.max(o.figures[SHARED_ACKED], v.ack.lsn);
  }
  // The acknowledgement first (it is what the primary waits for); the state word still says
  // ACKING until the message is posted too, so the host's thread sees both or neither.
  if (v.ack) o.ch.send(v.ack);
  // The message's bytes go over by transfer, not by a clone (io-bytes.ts): a log batch as
  // its encoded bytes, decoded again over there (frameBytes), any other message decoded.
  const info: FrontInfo = { seq: v.seq, ...(v.front ? { front: v.front } : {}) };
  // Only a frame that holds the whole message: one whose large payloads followed as raw
  // frames (the channel's framing 2) holds markers in their place and goes decoded.
  if (m.t === "log" && frame && frameWhole) {
    const raw = frameBytes(frame);
    const e: IoEvent = { op: "message", id, raw, bytesOut: o.ch.bytesOut, info };
    port.postMessage(e, [raw.buffer as ArrayBuffer]);
  } else {
    const e: IoEvent = { op: "message", id, m, bytesOut: o.ch.bytesOut, info };
    port.postMessage(e, handOver(m, frame));
  }
  if (mine) {
    Atomics.store(o.state, 0, ST_OPEN);
    Atomics.notify(o.state, 0);
  }
}
