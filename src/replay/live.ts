// The live environment: answers the guest's nondeterministic questions from the world
// and emits each answer as a log event; chooses the instruction boundaries at which
// asynchronous input (timer ticks, console bytes, disk completions, network input) is
// delivered, and logs each delivery with the exact icount. An interrupt-raising event
// that arrives while the guest has interrupts disabled stays queued here (network input
// stays in the world's NetSource) and is logged when it is actually delivered. Disk
// requests the device issued are submitted to the world's disk back-end; their
// completions queue here like console input and are logged when delivered.
import type { Bus } from "../devices/bus.js";
import type { DiskCompletion } from "../devices/disk.js";
import type { DeviceEnv, Event } from "../devices/events.js";
import { EV } from "../devices/events.js";
import type { World } from "./world.js";

/** Console input accepted from the host but not yet delivered; post() refuses beyond it. */
export const LIVE_PENDING_INPUT_BYTES_MAX = 1024 * 1024;
/** The largest console chunk one event carries. */
export const CONSOLE_CHUNK_BYTES_MAX = 1024;
/** Asynchronous completions (disk, later others) accepted but not yet delivered; post refuses beyond it. */
export const LIVE_PENDING_COMPLETIONS_MAX = 256;
/** The largest network chunk one NET_RX event carries. */
export const NET_CHUNK_BYTES_MAX = 16 * 1024;

export interface LiveOptions {
  /** UNSAFE, for demonstrating divergence: RAND reads the world without logging. */
  unloggedRand?: boolean;
  /** Stop the machine after every input so a tracer can record the state right after it. */
  stopAfterInput?: boolean;
  /** The next event gets lsn firstLsn (a backup going live continues the old numbering). */
  firstLsn?: number;
  /** Virtual time starts here (a backup going live continues from the last logged time). */
  startUs?: number;
  /** Called after each asynchronous event took effect (tracers record the state here). */
  onDelivered?: (e: Event) => void;
}

export class LiveEnv implements DeviceEnv {
  private lsn: number;
  private readonly baseUs: number;
  private lastUs: number;
  private readonly consoleQueue: Uint8Array[] = [];
  private consoleQueuedBytes = 0;
  private consoleEof = false;
  private timerGeneration = -1;
  private timerDeadlineUs: number | undefined;
  private readonly completions: { kind: number; data: unknown }[] = [];
  private diskInFlight = 0;

  constructor(
    private readonly bus: Bus,
    private readonly world: World,
    private readonly emit: (e: Event) => void,
    private readonly opts: LiveOptions = {},
  ) {
    this.lsn = (opts.firstLsn ?? 1) - 1;
    this.lastUs = opts.startUs ?? 0;
    this.baseUs = world.nowUs() - this.lastUs;
    if (bus.disk.geometry.blocks > 0 && !world.disk) throw new Error("live: the guest has a disk but the world gives no disk back-end");
  }

  /** The lsn of the last event emitted. */
  get lastLsn(): number {
    return this.lsn;
  }

  /** The latest virtual time handed out or checked (a successor continues from it, never earlier). */
  get virtualUs(): number {
    return this.lastUs;
  }

  /** Virtual microseconds since boot, never going backwards. */
  nowUs(): number {
    const t = Math.floor(this.world.nowUs() - this.baseUs);
    if (t > this.lastUs) this.lastUs = t;
    return this.lastUs;
  }

  /** The last synchronous input and the pc of the instruction that read it (for tracers; they clear it). */
  lastInput: { kind: number; pc: number } | undefined;

  input(kind: number): number {
    let value: number;
    switch (kind) {
      case EV.TIME: value = this.nowUs(); break;
      case EV.RAND: value = this.world.random32() >>> 0; break;
      case EV.HOSTID: value = this.world.hostId >>> 0; break;
      default: throw new Error(`live: ${kind} is not a synchronous input`);
    }
    if (!(kind === EV.RAND && this.opts.unloggedRand)) this.log(kind, value);
    if (this.opts.stopAfterInput) {
      this.lastInput = { kind, pc: this.bus.machine.pc };
      this.bus.machine.stopRequested = true;
    }
    return value;
  }

  interruptsEnabled(): void {
    // Stop at this boundary so pending input is delivered as soon as the guest can take
    // it (after IRET at once, after EI one instruction later: see LiveRunner.step).
    if (this.hasPending()) this.bus.machine.stopRequested = true;
  }

  /** Queues console input from the host; false when the bound is reached (the host should stop reading). */
  postConsole(bytes: Uint8Array): boolean {
    if (this.consoleEof) throw new Error("live: console input after end of input");
    if (this.consoleQueuedBytes + bytes.length > LIVE_PENDING_INPUT_BYTES_MAX) return false;
    if (bytes.length > 0) {
      this.consoleQueue.push(bytes);
      this.consoleQueuedBytes += bytes.length;
    }
    return true;
  }

  endConsole(): void {
    this.consoleEof = true;
  }

  /**
   * Queues an asynchronous completion from the host, delivered by pump() in arrival order;
   * false when the bound is reached.
   */
  postCompletion(kind: number, data: unknown): boolean {
    if (this.completions.length >= LIVE_PENDING_COMPLETIONS_MAX) return false;
    this.completions.push({ kind, data });
    return true;
  }

  /** Disk requests submitted to the back-end whose completion has not arrived yet. */
  get diskRequestsInFlight(): number {
    return this.diskInFlight;
  }

  /**
   * Submits the requests the disk issued since the last call. A restored or newly live
   * device lists every issued, uncompleted request, so this also re-issues them.
   */
  submitDisk(): void {
    if (!this.bus.disk.hasUnsubmitted()) return;
    const backend = this.world.disk;
    if (!backend) throw new Error("live: the guest started a disk request but the world gives no disk back-end");
    for (const req of this.bus.disk.takeIssued()) {
      this.diskInFlight++;
      backend.submit(req, (status, data) => {
        this.diskInFlight--;
        const c: DiskCompletion = { slot: req.slot, seq: req.seq, status };
        if (data !== undefined) c.data = data.slice();
        // At most DISK_REQUESTS_MAX disk completions are ever queued, far below the bound.
        if (!this.postCompletion(EV.DISK_DONE, c)) throw new Error("live: completion queue full");
      });
    }
  }

  hasPending(): boolean {
    return this.completions.length > 0 || this.consoleQueue.length > 0 || (this.consoleEof && !this.bus.console.inputEnded()) || this.timerDue() || this.netReady();
  }

  /** Payload bytes the NIC can take in one event now (-1: not even a record fits). */
  private netRoom(): number {
    const nic = this.bus.nic;
    return nic.rxRecordsFree() > 0 ? Math.min(nic.rxBytesFree(), NET_CHUNK_BYTES_MAX) : -1;
  }

  /** True when the network back-end has an event the NIC can take now. */
  private netReady(): boolean {
    const room = this.world.net ? this.netRoom() : -1;
    return room >= 0 && this.world.net!.ready(room);
  }

  /** When the timer is next due, in virtual µs (undefined when it is stopped). */
  timerDeadline(): number | undefined {
    this.rearmTimer();
    return this.timerDeadlineUs;
  }

  /** Delivers every asynchronous event that may be delivered at this boundary; returns how many. */
  pump(): number {
    let delivered = 0;
    if (this.timerDue() && this.bus.canDeliver(EV.TIMER)) {
      const now = this.nowUs();
      this.deliver(EV.TIMER, now);
      delivered++;
      const period = this.bus.timer.periodUs;
      // Ticks missed while the host was busy are coalesced into this one, as a real
      // timer chip with a single pending bit would do.
      this.timerDeadlineUs = Math.max(this.timerDeadlineUs! + period, now + 1);
    }
    while (this.consoleQueue.length > 0 && this.bus.canDeliver(EV.CONSOLE_INPUT)) {
      const free = Math.min(this.bus.console.freeInputBytes(), CONSOLE_CHUNK_BYTES_MAX);
      if (free === 0) break;
      const head = this.consoleQueue[0];
      const chunk = head.length <= free ? head : head.subarray(0, free);
      if (chunk === head) this.consoleQueue.shift();
      else this.consoleQueue[0] = head.subarray(free);
      this.consoleQueuedBytes -= chunk.length;
      this.deliver(EV.CONSOLE_INPUT, chunk.slice());
      delivered++;
    }
    if (this.consoleEof && this.consoleQueue.length === 0 && !this.bus.console.inputEnded() && this.bus.canDeliver(EV.CONSOLE_INPUT)) {
      this.deliver(EV.CONSOLE_INPUT, new Uint8Array(0));
      delivered++;
    }
    // Completions go in arrival order: the head waits until it may be delivered.
    while (this.completions.length > 0 && this.bus.canDeliver(this.completions[0].kind)) {
      const c = this.completions.shift()!;
      this.deliver(c.kind, c.data);
      delivered++;
    }
    // A delivered disk completion may have let waiting requests go: submit them now.
    this.submitDisk();
    // Network input: only what the NIC's receive queue can hold, in the back-end's order.
    const net = this.world.net;
    while (net && this.bus.canDeliver(EV.NET_RX)) {
      const room = this.netRoom();
      const e = room >= 0 ? net.take(room) : undefined;
      if (!e) break;
      this.deliver(e.kind, e.data);
      delivered++;
    }
    return delivered;
  }

  /** Logs a mark (EV.CHECK or EV.END) at the current icount. */
  mark(kind: number, data: unknown): void {
    this.log(kind, data);
  }

  private deliver(kind: number, data: unknown): void {
    const e = this.log(kind, data);
    this.bus.deliver(kind, data);
    this.opts.onDelivered?.(e);
  }

  private log(kind: number, data: unknown): Event {
    const e = { lsn: ++this.lsn, icount: this.bus.machine.icount, kind, data };
    this.emit(e);
    return e;
  }

  private rearmTimer(): void {
    const t = this.bus.timer;
    if (t.generation !== this.timerGeneration) {
      this.timerGeneration = t.generation;
      this.timerDeadlineUs = t.periodUs > 0 ? this.nowUs() + t.periodUs : undefined;
    }
  }

  private timerDue(): boolean {
    this.rearmTimer();
    return this.timerDeadlineUs !== undefined && this.nowUs() >= this.timerDeadlineUs;
  }
}
