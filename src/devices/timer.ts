// The periodic timer. The guest sets a period in virtual microseconds; the environment
// decides when a tick is due (live: from the clock; replay: from the log) and delivers
// EV.TIMER, which raises VEC_TIMER. `generation` counts period writes so the live
// environment can re-arm its deadline when the guest reprograms the timer.
import { VEC_TIMER } from "../../isa/ports.js";
import type { Device, DeviceState } from "./device.js";
import { checkVersion } from "./device.js";
import { EV } from "./events.js";

const STATE_VERSION = 1;

export class Timer implements Device {
  readonly name = "timer";
  readonly kinds = [EV.TIMER];
  periodUs = 0;
  ticks = 0;
  generation = 0;

  setPeriod(us: number): void {
    this.periodUs = us >>> 0;
    this.generation++;
  }

  raisesInterrupt(): boolean {
    return true;
  }

  apply(): number {
    this.ticks++;
    return VEC_TIMER;
  }

  getState(): DeviceState {
    return { version: STATE_VERSION, periodUs: this.periodUs, ticks: this.ticks, generation: this.generation };
  }

  setState(s: DeviceState): void {
    checkVersion(this.name, s, STATE_VERSION);
    this.periodUs = s.periodUs as number;
    this.ticks = s.ticks as number;
    this.generation = s.generation as number;
  }
}
