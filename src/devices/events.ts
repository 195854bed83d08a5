// Event kinds: every nondeterministic thing the guest can see has one. The log is a
// sequence of {lsn, icount, kind, data}. "Sync" kinds answer an instruction (TIME, RAND,
// HOSTID) and are consumed by the instruction at exactly `icount`; "async" kinds arrive
// from outside (a timer tick, console bytes, a disk completion, later a packet) and are
// delivered at the instruction boundary `icount` chosen by the primary. Marks carry no
// input: they record digests and how far execution has gone.
export const EV = {
  TIME: 1,
  RAND: 2,
  HOSTID: 3,
  TIMER: 16,
  CONSOLE_INPUT: 17,
  /** A disk request completed: data {slot, seq, status, data?} (data: the bytes a read returned). */
  DISK_DONE: 18,
  /** A connection opened: data {conn} (an id the host side chose, 0 .. NET_CONNS_MAX - 1). */
  NET_OPEN: 19,
  /** Bytes arrived on a connection: data {conn, bytes}. */
  NET_RX: 20,
  /** The peer finished sending (or the host confirms the guest's close): data {conn}. */
  NET_CLOSE: 21,
  /** A state digest the replay side compares: data {regs, mem}. */
  CHECK: 32,
  /** The recording ended here: data {reason, regs, mem}. */
  END: 33,
  /**
   * The primary executed up to here and every event before it is in the log: the
   * backup may run this far without more events. data: null.
   */
  PROGRESS: 34,
} as const;

export const SYNC_KINDS: ReadonlySet<number> = new Set([EV.TIME, EV.RAND, EV.HOSTID]);
export const ASYNC_KINDS: ReadonlySet<number> = new Set([EV.TIMER, EV.CONSOLE_INPUT, EV.DISK_DONE, EV.NET_OPEN, EV.NET_RX, EV.NET_CLOSE]);
export const MARK_KINDS: ReadonlySet<number> = new Set([EV.CHECK, EV.END, EV.PROGRESS]);

export function kindName(kind: number): string {
  for (const [name, k] of Object.entries(EV)) if (k === kind) return name;
  return `kind ${kind}`;
}

export interface DigestMark {
  regs: string;
  mem: string;
}

export interface EndMark extends DigestMark {
  /** halted, trapped, max-icount, interrupted, ... */
  reason: string;
  /** The trap that ended the recording: a trapping instruction does not retire, so replay re-executes it and must trap the same way. */
  trap?: { kind: string; pc: number };
}

export interface Event {
  /** Log sequence number: +1 per event, from 1. */
  lsn: number;
  /** Instructions retired when the event was consumed or delivered. */
  icount: number;
  kind: number;
  data: unknown;
}

/**
 * What devices ask of the environment. The live environment answers from the world and
 * logs the answer; the replay environment answers from the log and checks it is in step.
 */
export interface DeviceEnv {
  /** A synchronous input (EV.TIME, EV.RAND, EV.HOSTID) for the instruction at the machine's icount. */
  input(kind: number): number;
  /** The guest just enabled interrupts (EI, IRET). */
  interruptsEnabled(): void;
}
