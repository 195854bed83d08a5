// Console input under FT, the durable-input path (as the network's, see netgate.ts and
// src/net/switch.ts): the launcher holds every byte of the guest's console input (its
// stdin) with its stream offset, and sends it to the live primary from the offset the
// primary asks for. The primary logs each CONSOLE_INPUT delivery; once the log holding a
// byte is acknowledged by its backup (or logged, when it runs alone) the byte is durable
// and the launcher forgets it. A backup that goes live has replayed exactly the input the
// old primary logged (Console.receivedBytes counts it: guest state, cloned with the rest)
// and asks for the input from there: what the old primary had not logged comes again,
// and nothing comes twice. Both halves are pure; src/host/console-input.ts carries them.
import type { Event } from "../devices/events.js";
import { EV } from "../devices/events.js";

/** The node's half: which logged deliveries carried input up to which offset. */
export class ConsoleInGate {
  /** The offset of the next byte to post into the live environment (what to ask the launcher from). */
  posted = 0;
  private loggedOffset = 0;
  /** CONSOLE_INPUT events logged but not yet known durable: their lsn and the offset after them. */
  private logged: { lsn: number; offset: number; eof: boolean }[] = [];
  durableOffset = 0;
  durableEof = false;

  /** Live from here: the console has received `receivedBytes` (and the end of input, when `eof`). */
  startFrom(receivedBytes: number, eof: boolean): void {
    this.posted = receivedBytes;
    this.loggedOffset = receivedBytes;
    this.logged = [];
    this.durableOffset = receivedBytes;
    this.durableEof = eof;
  }

  /** Every event the live environment logs (the list is bounded by the unacknowledged log). */
  noteLogged(e: Event): void {
    if (e.kind !== EV.CONSOLE_INPUT) return;
    const n = (e.data as Uint8Array).length;
    this.loggedOffset += n;
    this.logged.push({ lsn: e.lsn, offset: this.loggedOffset, eof: n === 0 });
  }

  /** The log is durable through `lsn` (acknowledged, or logged when alone). */
  durableThrough(lsn: number): void {
    let k = 0;
    while (k < this.logged.length && this.logged[k].lsn <= lsn) {
      this.durableOffset = this.logged[k].offset;
      if (this.logged[k].eof) this.durableEof = true;
      k++;
    }
    if (k > 0) this.logged = this.logged.slice(k);
  }
}

/** Bytes the launcher holds (read from its stdin, not yet durable); past it, it stops reading. */
export const CONSOLE_IN_HELD_BYTES_MAX = 4 * 1024 * 1024;
/** Bytes sent to the primary beyond the durable offset (its queue and the channel hold them). */
export const CONSOLE_IN_WINDOW_BYTES = 256 * 1024;
/** The largest "in" message. */
export const CONSOLE_IN_MESSAGE_BYTES_MAX = 64 * 1024;

/** The launcher's half: the held input and how far it went to the current primary. */
export class ConsoleInHold {
  /** Offset of the first held byte (everything before is durable). */
  base = 0;
  private held: Uint8Array[] = [];
  heldBytes = 0;
  /** Where the input ends (undefined while it goes on). */
  eofAt?: number;
  /** The primary input goes to: its epoch, and the offset of the next byte to send it. */
  private target?: { epoch: number; next: number; eofSent: boolean };

  /** Input from stdin; false when the bound is reached (stop reading until some becomes durable). */
  push(bytes: Uint8Array): boolean {
    if (this.eofAt !== undefined) throw new Error("console input after its end");
    if (bytes.length > 0) {
      this.held.push(bytes);
      this.heldBytes += bytes.length;
    }
    return this.heldBytes < CONSOLE_IN_HELD_BYTES_MAX;
  }

  end(): void {
    this.eofAt ??= this.base + this.heldBytes;
  }

  get full(): boolean {
    return this.heldBytes >= CONSOLE_IN_HELD_BYTES_MAX;
  }

  /**
   * A primary of `epoch` asks for input from `offset`. An older epoch than the current
   * target's is ignored (a deposed primary); an offset before what was forgotten cannot be
   * served (the bytes were durable: a primary asking for them did not replay the log) and
   * is returned as a complaint.
   */
  from(epoch: number, offset: number): "ok" | "stale" | string {
    if (this.target && epoch < this.target.epoch) return "stale";
    if (offset < this.base) return `a primary of epoch ${epoch} asks for console input from offset ${offset}, but everything before ${this.base} was durable and is gone`;
    if (offset > this.base + this.heldBytes) return `a primary of epoch ${epoch} asks for console input from offset ${offset}, beyond the ${this.base + this.heldBytes} bytes read`;
    this.target = { epoch, next: offset, eofSent: false };
    return "ok";
  }

  /** The input through `offset` is durable: forget it. */
  durable(offset: number): void {
    while (this.held.length > 0 && this.base + this.held[0].length <= offset) {
      this.base += this.held[0].length;
      this.heldBytes -= this.held[0].length;
      this.held.shift();
    }
    if (this.held.length > 0 && offset > this.base) {
      const cut = offset - this.base;
      this.held[0] = this.held[0].subarray(cut);
      this.base += cut;
      this.heldBytes -= cut;
    }
  }

  /** What to send the target now: chunks within the window, then the end of input once. */
  take(): { offset: number; bytes?: Uint8Array; eof?: true }[] {
    const t = this.target;
    if (!t) return [];
    const out: { offset: number; bytes?: Uint8Array; eof?: true }[] = [];
    const end = this.base + this.heldBytes;
    while (t.next < end && t.next - this.base < CONSOLE_IN_WINDOW_BYTES) {
      let at = this.base;
      let i = 0;
      while (at + this.held[i].length <= t.next) at += this.held[i++].length;
      const from = this.held[i].subarray(t.next - at);
      const bytes = from.subarray(0, Math.min(from.length, CONSOLE_IN_MESSAGE_BYTES_MAX, CONSOLE_IN_WINDOW_BYTES - (t.next - this.base)));
      out.push({ offset: t.next, bytes });
      t.next += bytes.length;
    }
    if (this.eofAt !== undefined && t.next === this.eofAt && !t.eofSent) {
      t.eofSent = true;
      out.push({ offset: t.next, eof: true });
    }
    return out;
  }
}
