// The shape every device has. Devices hold only guest-visible state; they never read
// the world themselves (values come from the environment), so their state is a pure
// function of the program and the event log.
import { OperatingError } from "../base/errors.js";

export interface DeviceState {
  version: number;
  [field: string]: unknown;
}

export interface Device {
  readonly name: string;
  /** Asynchronous event kinds this device consumes (see events.ts). */
  readonly kinds: readonly number[];
  /** True when delivering `kind` raises an interrupt, so it may only happen with interrupts enabled. */
  raisesInterrupt(kind: number): boolean;
  /** Applies an asynchronous event; returns the vector to raise, or -1 for none. */
  apply(kind: number, data: unknown): number;
  getState(): DeviceState;
  setState(s: DeviceState): void;
}

export class DeviceStateError extends OperatingError {}

export function checkVersion(device: string, s: DeviceState, version: number): void {
  if (!s || s.version !== version) throw new DeviceStateError(`${device} state version ${s?.version}, expected ${version}`);
}
