// A network client that does not read its replies, as both TCP front ends see it (the
// plain run's NetServer and the FT launcher's virtual switch). Each client socket gets a
// ReplyBacklog that watches the replies waiting in the socket for the client to read:
//
// - past CONN_OUTPUT_PAUSE_BYTES the client is *slowed*: its further requests are not
//   read, and what it sent is not given to the guest, until it has read all its replies
//   (the socket drains). A client that reads slowly is paced by its own reading; nobody
//   else waits for it.
// - past CONN_OUTPUT_BYTES_MAX (replies to requests the guest already had) it is
//   disconnected at once;
// - slowed and reading nothing for CONN_OUTPUT_STALL_MS it is disconnected too, so a
//   client that never reads cannot hold a connection id and its buffers forever; the
//   same after the guest closed the connection (end()) while replies still wait, or the
//   socket would wait for a reader that never comes.
//
// Only the bytes above the kernel's socket buffer are counted (Node's writableLength):
// that is the memory this process spends on the client.
import type { Socket } from "node:net";

/** Replies a client has not read past which its further input waits (it is slowed). */
export const CONN_OUTPUT_PAUSE_BYTES = 1024 * 1024;
/** Replies a client has not read past which it is disconnected. */
export const CONN_OUTPUT_BYTES_MAX = 16 * 1024 * 1024;
/** A slowed client that reads none of its replies for this long is disconnected. */
export const CONN_OUTPUT_STALL_MS = 30_000;

export interface ReplyBacklogLimits {
  pauseBytes: number;
  bytesMax: number;
  stallMs: number;
}

export const REPLY_BACKLOG_LIMITS: ReplyBacklogLimits = { pauseBytes: CONN_OUTPUT_PAUSE_BYTES, bytesMax: CONN_OUTPUT_BYTES_MAX, stallMs: CONN_OUTPUT_STALL_MS };

export interface ReplyBacklogHandlers {
  /** The client stopped reading: stop reading its input and giving it to the guest. */
  slowed(): void;
  /** The client read all its replies: its input may flow again. */
  resumed(): void;
  /** Disconnect it; `why` completes "<peer> ..." in a log line. */
  disconnect(why: string): void;
}

export class ReplyBacklog {
  /** True while the client is slowed. */
  slow = false;
  private written = 0;
  /** Bytes the client had taken (written minus still buffered) when the stall clock started. */
  private takenAtCheck = 0;
  private timer?: NodeJS.Timeout;
  private done = false;
  /** end() was called: the socket finishes once the client has read what waits. */
  private ending = false;

  constructor(
    private readonly socket: Socket,
    private readonly h: ReplyBacklogHandlers,
    private readonly limits: ReplyBacklogLimits = REPLY_BACKLOG_LIMITS,
  ) {
    socket.on("drain", () => this.drained());
    // Ended and flushed to the kernel: nothing of it waits here any more.
    socket.on("finish", () => this.stop());
    socket.on("close", () => this.stop());
  }

  /** Writes replies to the socket and applies the limits. */
  write(bytes: Uint8Array): void {
    if (this.done || this.socket.destroyed) return;
    this.socket.write(bytes);
    this.written += bytes.length;
    const waiting = this.socket.writableLength;
    if (waiting > this.limits.bytesMax) {
      this.stop();
      this.h.disconnect(`left more than ${this.limits.bytesMax} bytes of replies unread`);
      return;
    }
    if (!this.slow && waiting >= this.limits.pauseBytes) {
      this.slow = true;
      this.startStallClock();
      this.h.slowed();
    }
  }

  /** The guest closed the connection: finish the socket after the replies, but not wait for a reader forever. */
  end(): void {
    if (this.done || this.socket.destroyed) return;
    this.socket.end();
    this.ending = true;
    if (this.socket.writableLength > 0 && !this.slow) this.startStallClock();
  }

  /** Forget the socket (it is gone): no more verdicts. */
  stop(): void {
    this.done = true;
    this.slow = false;
    clearTimeout(this.timer);
  }

  /** Bytes the kernel has taken from this socket so far. */
  private taken(): number {
    return this.written - this.socket.writableLength;
  }

  private startStallClock(): void {
    clearTimeout(this.timer);
    this.takenAtCheck = this.taken();
    this.timer = setTimeout(() => this.check(), this.limits.stallMs);
  }

  private drained(): void {
    if (this.done) return;
    clearTimeout(this.timer);
    if (!this.slow) return;
    this.slow = false;
    this.h.resumed();
  }

  private check(): void {
    if (!(this.slow || this.ending) || this.done) return;
    const taken = this.taken();
    if (taken <= this.takenAtCheck) {
      this.stop();
      this.h.disconnect(`read none of its ${this.socket.writableLength} bytes of waiting replies for ${this.limits.stallMs} ms`);
      return;
    }
    // Reading, however slowly: its own pace, which slows nobody else.
    this.takenAtCheck = taken;
    this.timer = setTimeout(() => this.check(), this.limits.stallMs);
  }
}
