// The device bus: the machine's one way out (IN, OUT, TIME, RAND, HOSTID) and the one
// way in for asynchronous events. The environment behind it can be swapped (a backup
// going live switches from the replay environment to the live one) without touching
// the machine or the devices.
import { PORT } from "../../isa/ports.js";
import type { Machine, Sys } from "../vm/machine.js";
import { Clock } from "./clock.js";
import { Console } from "./console.js";
import type { Device, DeviceState } from "./device.js";
import { DeviceStateError } from "./device.js";
import type { DiskGeometry } from "./disk.js";
import { Disk } from "./disk.js";
import type { DeviceEnv } from "./events.js";
import { kindName } from "./events.js";
import { NET_CONNS_MAX, Nic } from "./nic.js";
import { Timer } from "./timer.js";

export const DEVICES_STATE_VERSION = 3;

export interface DevicesState {
  version: number;
  console: DeviceState;
  timer: DeviceState;
  clock: DeviceState;
  disk: DeviceState;
  nic: DeviceState;
}

export interface BusOptions {
  /** The disk's geometry (default: no disk, every request refused). */
  disk?: DiskGeometry;
}

export class Bus implements Sys {
  readonly console: Console;
  readonly timer = new Timer();
  readonly clock: Clock;
  readonly disk: Disk;
  readonly nic: Nic;
  /** Asynchronous event kind → the device that consumes it. */
  private readonly byKind = new Map<number, Device>();

  constructor(
    readonly machine: Machine,
    public env: DeviceEnv,
    opts: BusOptions = {},
  ) {
    this.console = new Console(machine);
    this.clock = new Clock(() => this.env);
    this.disk = new Disk(machine, opts.disk);
    this.nic = new Nic(machine);
    for (const d of [this.console, this.timer, this.disk, this.nic] as Device[]) for (const k of d.kinds) this.byKind.set(k, d);
    machine.sys = this;
  }

  in(port: number): number {
    switch (port) {
      case PORT.CON_IN: return this.console.readByte();
      case PORT.CON_STATUS: return this.console.status();
      case PORT.CON_CTRL: return this.console.ctrl;
      case PORT.TIMER_PERIOD: return this.timer.periodUs | 0;
      case PORT.TIMER_TICKS: return this.timer.ticks | 0;
      case PORT.CLOCK_HI: return this.clock.hi;
      case PORT.DISK_BLOCKS: return this.disk.geometry.blocks | 0;
      case PORT.DISK_BLOCK_BYTES: return this.disk.geometry.blockBytes;
      case PORT.DISK_OP: return this.disk.op;
      case PORT.DISK_BLOCK: return this.disk.block;
      case PORT.DISK_COUNT: return this.disk.count;
      case PORT.DISK_ADDR: return this.disk.addr;
      case PORT.DISK_TAG: return this.disk.tag;
      case PORT.DISK_START: return this.disk.start();
      case PORT.DISK_DONE: return this.disk.takeDone();
      case PORT.DISK_DONE_STATUS: return this.disk.doneStatus;
      case PORT.DISK_DONE_TAG: return this.disk.doneTag;
      case PORT.DISK_PENDING: return this.disk.pending();
      case PORT.DISK_READY: return this.disk.readyCount();
      case PORT.DISK_CTRL: return this.disk.ctrl;
      case PORT.MEM_SIZE: return this.machine.memBytes | 0;
      case PORT.STACK_BASE: return this.machine.stackBase | 0;
      case PORT.NET_CTRL: return this.nic.ctrl;
      case PORT.NET_STATUS: return this.nic.recordsWaiting();
      case PORT.NET_RECV: return this.nic.recv();
      case PORT.NET_RX_CONN: return this.nic.rxConn;
      case PORT.NET_RX_LEN: return this.nic.rxLen;
      case PORT.NET_CONN: return this.nic.conn;
      case PORT.NET_ADDR: return this.nic.addr;
      case PORT.NET_LEN: return this.nic.len;
      case PORT.NET_SEND: return this.nic.send();
      case PORT.NET_CLOSE: return this.nic.close();
      case PORT.NET_SENT: return this.nic.sent();
      case PORT.NET_CONNS: return NET_CONNS_MAX;
    }
    this.machine.raiseTrap("bad-port", `IN from port ${port >>> 0}, which no device answers`);
    return 0;
  }

  out(port: number, value: number): void {
    switch (port) {
      case PORT.CON_OUT: this.console.write(value & 0xff); return;
      case PORT.CON_CTRL: this.console.ctrl = value & 1; return;
      case PORT.TIMER_PERIOD: this.timer.setPeriod(value); return;
      case PORT.DISK_OP: this.disk.op = value | 0; return;
      case PORT.DISK_BLOCK: this.disk.block = value | 0; return;
      case PORT.DISK_COUNT: this.disk.count = value | 0; return;
      case PORT.DISK_ADDR: this.disk.addr = value | 0; return;
      case PORT.DISK_TAG: this.disk.tag = value | 0; return;
      case PORT.DISK_CTRL: this.disk.ctrl = value & 1; return;
      case PORT.NET_CTRL: this.nic.ctrl = value & 1; return;
      case PORT.NET_CONN: this.nic.conn = value; return;
      case PORT.NET_ADDR: this.nic.addr = value; return;
      case PORT.NET_LEN: this.nic.len = value; return;
    }
    this.machine.raiseTrap("bad-port", `OUT to port ${port >>> 0}, which no device accepts`);
  }

  time(): number {
    return this.clock.time();
  }

  rand(): number {
    return this.clock.rand();
  }

  hostId(): number {
    return this.clock.hostId();
  }

  interruptsEnabled(): void {
    this.env.interruptsEnabled();
  }

  /** True when an event of `kind` may be delivered at the current boundary. */
  canDeliver(kind: number): boolean {
    const m = this.machine;
    if (m.halted || m.trap) return false;
    return !this.device(kind).raisesInterrupt(kind) || (m.ie && m.icount !== m.eiShadowIcount);
  }

  /** Delivers an asynchronous event at the current instruction boundary. */
  deliver(kind: number, data: unknown): void {
    const vector = this.device(kind).apply(kind, data);
    if (vector >= 0) this.machine.interrupt(vector);
  }

  private device(kind: number): Device {
    const d = this.byKind.get(kind);
    if (!d) throw new Error(`bus: no device consumes ${kindName(kind)}`);
    return d;
  }

  getState(): DevicesState {
    return {
      version: DEVICES_STATE_VERSION,
      console: this.console.getState(),
      timer: this.timer.getState(),
      clock: this.clock.getState(),
      disk: this.disk.getState(),
      nic: this.nic.getState(),
    };
  }

  setState(s: DevicesState): void {
    if (!s || s.version !== DEVICES_STATE_VERSION) throw new DeviceStateError(`devices state version ${s?.version}, expected ${DEVICES_STATE_VERSION}`);
    this.console.setState(s.console);
    this.timer.setState(s.timer);
    this.clock.setState(s.clock);
    this.disk.setState(s.disk);
    this.nic.setState(s.nic);
  }
}
