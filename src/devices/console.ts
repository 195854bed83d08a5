// The console: output bytes leave through a bounded buffer the host drains; input bytes
// arrive as asynchronous events (EV.CONSOLE_INPUT) and wait in a bounded FIFO until the
// guest reads them. An input event with no bytes means the input has ended (EOF).
import { VEC_CONSOLE } from "../../isa/ports.js";
import type { Machine } from "../vm/machine.js";
import type { Device, DeviceState } from "./device.js";
import { checkVersion } from "./device.js";
import { EV } from "./events.js";

/** Guest input waiting to be read; the live environment never delivers more than fits. */
export const CONSOLE_IN_BYTES_MAX = 4096;
/** Output not yet drained by the host; when full the machine stops so the host drains it. */
export const CONSOLE_OUT_BYTES_MAX = 64 * 1024;
/** 2 added receivedBytes. */
const STATE_VERSION = 2;
const EMPTY = new Uint8Array(0);

export class Console implements Device {
  readonly name = "console";
  readonly kinds = [EV.CONSOLE_INPUT];
  private readonly inBuf = new Uint8Array(CONSOLE_IN_BYTES_MAX);
  private inHead = 0;
  private inLen = 0;
  private eof = false;
  /** CON_CTRL: bit 0 raises VEC_CONSOLE on input. */
  ctrl = 0;
  private readonly outBuf = new Uint8Array(CONSOLE_OUT_BYTES_MAX);
  private outLen = 0;
  /**
   * Bytes drained since boot: the stream offset of the next drained byte. It is guest
   * state (a pure function of the execution), so primary and backup number every output
   * byte identically and a sink can drop what a new primary re-sends.
   */
  drainedBytes = 0;
  /**
   * Input bytes received since boot (delivered by CONSOLE_INPUT events): the stream offset
   * of the next input byte. Guest state like drainedBytes, so a backup that goes live
   * knows exactly how much of the console input the old primary's log held, and asks
   * for the rest (see src/ft/console-in.ts).
   */
  receivedBytes = 0;

  constructor(private readonly machine: Machine) {}

  write(byte: number): void {
    this.outBuf[this.outLen++] = byte;
    if (this.outLen === CONSOLE_OUT_BYTES_MAX) this.machine.stopRequested = true;
  }

  /** Takes the output produced since the last drain (empty when none). */
  drainOutput(): Uint8Array {
    // Replay loops drain after every step: no allocation when there is nothing to take.
    if (this.outLen === 0) return EMPTY;
    const out = this.outBuf.slice(0, this.outLen);
    this.drainedBytes += this.outLen;
    this.outLen = 0;
    return out;
  }

  readByte(): number {
    if (this.inLen === 0) return -1;
    const b = this.inBuf[this.inHead];
    this.inHead = (this.inHead + 1) % CONSOLE_IN_BYTES_MAX;
    this.inLen--;
    return b;
  }

  status(): number {
    return this.inLen === 0 && this.eof ? -1 : this.inLen;
  }

  freeInputBytes(): number {
    return CONSOLE_IN_BYTES_MAX - this.inLen;
  }

  inputEnded(): boolean {
    return this.eof;
  }

  raisesInterrupt(): boolean {
    return (this.ctrl & 1) !== 0;
  }

  apply(_kind: number, data: unknown): number {
    const bytes = data as Uint8Array;
    if (!(bytes instanceof Uint8Array)) throw new Error("console: input event data must be bytes");
    if (bytes.length > this.freeInputBytes()) throw new Error(`console: ${bytes.length} input bytes do not fit (${this.freeInputBytes()} free)`);
    if (bytes.length === 0) this.eof = true;
    this.receivedBytes += bytes.length;
    for (const b of bytes) {
      this.inBuf[(this.inHead + this.inLen) % CONSOLE_IN_BYTES_MAX] = b;
      this.inLen++;
    }
    return this.ctrl & 1 ? VEC_CONSOLE : -1;
  }

  getState(): DeviceState {
    const pending = new Uint8Array(this.inLen);
    for (let i = 0; i < this.inLen; i++) pending[i] = this.inBuf[(this.inHead + i) % CONSOLE_IN_BYTES_MAX];
    return { version: STATE_VERSION, input: pending, eof: this.eof, ctrl: this.ctrl, output: this.outBuf.slice(0, this.outLen), drainedBytes: this.drainedBytes, receivedBytes: this.receivedBytes };
  }

  setState(s: DeviceState): void {
    checkVersion(this.name, s, STATE_VERSION);
    const input = s.input as Uint8Array;
    const output = s.output as Uint8Array;
    this.inBuf.set(input);
    this.inHead = 0;
    this.inLen = input.length;
    this.eof = s.eof as boolean;
    this.ctrl = s.ctrl as number;
    this.outBuf.set(output);
    this.outLen = output.length;
    this.drainedBytes = s.drainedBytes as number;
    this.receivedBytes = s.receivedBytes as number;
  }
}
