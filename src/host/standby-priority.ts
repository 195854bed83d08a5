// The standby backup's CPU priority. The launcher starts a standby the moment a pair
// forms, so that a later failure finds a backup ready to join; its start-up (loading
// Node, compiling, connecting: 0.7-1.0 s of CPU measured by bench:compute) then competes
// with the pair on a small machine, which the compute benchmark saw as the pair's loss.
// A standby has no hurry until it is told to join: it starts at a lower priority (a
// higher nice value) and gets the normal one back when it joins, when its speed matters
// (restoring the copy, catching up on the log).
//
// Lowering a nice value back needs privilege (CAP_SYS_NICE, which root has unless a
// container drops it). Without it, a standby left at the lower priority would replay
// slowly as a backup, which is worse than the start-up it saves: so a standby is started
// at the lower priority only when this process holds that capability (read from
// /proc/self/status, which has no side effect; elsewhere than Linux, never).
import { readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** The standby's nice value until it joins (0 is normal, 19 the lowest priority). */
export const STANDBY_NICE = 10;
/** CAP_SYS_NICE's bit in the capability sets (linux/capability.h). */
const CAP_SYS_NICE_BIT = 23n;

let mayRaise: boolean | undefined;

/** True when this process may give a child its normal priority back after lowering it. */
export function mayRaisePriority(): boolean {
  if (mayRaise === undefined) {
    try {
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
      mayRaise = m !== null && ((BigInt(`0x${m[1]}`) >> CAP_SYS_NICE_BIT) & 1n) === 1n;
    } catch {
      mayRaise = false;
    }
  }
  return mayRaise;
}

/**
 * Lowers a freshly started standby's priority, when its normal priority can be given back
 * later. Returns true when it was lowered (call restoreStandbyPriority when it joins).
 */
export function lowerStandbyPriority(pid: number): boolean {
  if (!mayRaisePriority()) return false;
  try {
    // Never above the launcher's own priority: a launcher already at nice 15 keeps its standby there.
    setPriority(pid, Math.max(STANDBY_NICE, getPriority()));
    return true;
  } catch {
    return false;
  }
}

/** The standby joins: its normal priority (the launcher's) back. False when that failed (the process is gone, or privilege was lost). */
export function restoreStandbyPriority(pid: number): boolean {
  try {
    // The launcher's own priority, which the standby inherited: not 0, which for a launcher
    // started with `nice` would be a higher priority than the user gave the run.
    setPriority(pid, getPriority());
    return true;
  } catch {
    return false;
  }
}
