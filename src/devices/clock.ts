// The virtual clock (TIME), the random source (RAND) and the host identity (HOSTID).
// Their values are inputs from the environment; the clock keeps the high half of the
// last reading so a guest can read 64-bit time through CLOCK_HI.
import type { DeviceState } from "./device.js";
import { checkVersion } from "./device.js";
import type { DeviceEnv } from "./events.js";
import { EV } from "./events.js";

const STATE_VERSION = 1;
const TWO_32 = 0x100000000;

export class Clock {
  readonly name = "clock";
  hi = 0;

  constructor(private readonly env: () => DeviceEnv) {}

  /** Reads the clock: returns the low 32 bits as a signed register value. */
  time(): number {
    const us = this.env().input(EV.TIME);
    this.hi = Math.floor(us / TWO_32) | 0;
    return us % TWO_32 | 0;
  }

  rand(): number {
    return this.env().input(EV.RAND) | 0;
  }

  hostId(): number {
    return this.env().input(EV.HOSTID) | 0;
  }

  getState(): DeviceState {
    return { version: STATE_VERSION, hi: this.hi };
  }

  setState(s: DeviceState): void {
    checkVersion(this.name, s, STATE_VERSION);
    this.hi = s.hi as number;
  }
}
