// The standby backup's CPU priority. The launcher starts a standby the moment a pair
// forms, so that a later failure finds a backup ready to join; its start-up (loading
// Node, compiling, connecting: 0.7-1.0 s of CPU measured by bench:compute) then competes
// with the pair on a small machine, which the compute benchmark saw as the pair's loss.
// A standby has no hurry until it is told to join: it starts at a lower priority (a
// higher nice value) and gets the normal one back when it joins, when its speed matters
// (restoring the copy, catching up on the log), or already when a host fails while it is
// still starting. When failures come faster than a standby starts at the lower priority
// (one was told to join before it had started), the next one starts at the normal priority
// and is lowered once it is ready and idles (the launcher's startSpare; docs/kill-cycle.md).
//
// Lowering a nice value back needs privilege (CAP_SYS_NICE, which root has unless a
// container drops it). Without it, a standby left at the lower priority would replay
// slowly as a backup, which is worse than the start-up it saves: so a standby is started
// at the lower priority only when this process holds that capability (read from
// /proc/self/status, which has no side effect; elsewhere than Linux, never).
//
// A nice value belongs to a thread, not to a process: setpriority() on a pid changes its
// main thread only, and every thread that thread starts later inherits its value. A
// standby lowered as it starts creates V8's helper threads (parallel garbage collection,
// concurrent compilation) and libuv's pool at nice 10; giving back only the main thread's
// priority left them there for the rest of the process's life. Beside busy processes such
// a thread barely runs, and the main thread waits for it at every collection that shares
// work with it: a joined standby stopped answering for 500-980 ms at a time while using
// 14-144 ms of CPU (bench:clone --timeline under the standard load), and its primary's
// output waited for its acknowledgements. So both directions go through every thread
// (/proc/PID/task lists them).
import { readdirSync, readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/**
 * The standby's nice value until it joins: 19, the lowest priority (0 is normal). A
 * standby has nothing to do until a failure, and the CPU its start-up takes (about 0.3 s
 * on this machine) came out of the pair's two cores: at nice 10 (a tenth of a core's
 * share beside a busy host) it still took 0.29 s of CPU while fib(39) ran under FT
 * (`perf record -a`, 2026-12-07), 15% of the 1.9 s the primary took; at 19 it gets about
 * 1.5% beside a busy host and waits for idle time. It loses nothing it needs: a standby
 * still starting when a backup is needed gets the normal priority back at once (see the
 * launcher's scheduleRespawn), and a fresh backup is started beside it.
 */
export const STANDBY_NICE = 19;
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
export function lowerStandbyPriority(pid: number, nice = STANDBY_NICE): boolean {
  // Never above the launcher's own priority: a launcher already at nice 15 keeps its
  // standby there, and a `nice` at or below the launcher's own lowers nothing.
  if (nice <= getPriority() || !mayRaisePriority()) return false;
  return setProcessPriority(pid, nice);
}

/** The standby joins: its normal priority (the launcher's) back, on every thread. False when that failed (the process is gone, or privilege was lost). */
export function restoreStandbyPriority(pid: number): boolean {
  // The launcher's own priority, which the standby inherited: not 0, which for a launcher
  // started with `nice` would be a higher priority than the user gave the run.
  return setProcessPriority(pid, getPriority());
}

/**
 * Passes over a process's threads at most this many times: a thread started while one
 * pass runs may have inherited the old value, and the next pass finds it.
 */
const THREAD_PASSES_MAX = 3;

/** The thread ids of a process (Linux), or just the pid where /proc has no task list. */
function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => Number.isSafeInteger(t) && t > 0);
  } catch {
    return [pid];
  }
}

/** Sets `nice` on every thread of `pid`. False when the process is gone or the change was refused. */
export function setProcessPriority(pid: number, nice: number): boolean {
  try {
    setPriority(pid, nice);
  } catch {
    return false;
  }
  for (let pass = 0; pass < THREAD_PASSES_MAX; pass++) {
    let changed = 0;
    for (const tid of threadsOf(pid)) {
      try {
        if (getPriority(tid) === nice) continue;
        setPriority(tid, nice);
        changed++;
      } catch {
        // The thread ended meanwhile.
      }
    }
    if (changed === 0) break;
  }
  return true;
}

/** The nice value of each thread of `pid` (Linux; elsewhere the process's own), for tests and diagnosis. */
export function threadPriorities(pid: number): number[] {
  const out: number[] = [];
  for (const tid of threadsOf(pid)) {
    try {
      out.push(getPriority(tid));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}
