// Where an FT host's run loop spends its wall time, for the benchmarks (tools/bench/compute.ts
// prints it per run): in the node's run() (guest slices and the protocol work around them),
// asleep (an idle node's wait, which is also where the throttle's sleeps go), and in
// yields to the event loop (the messages, acks and timers handled there). Counting adds one
// to three clock readings (tens of nanoseconds each) to a loop iteration that runs a
// slice of 200,000 instructions.

export class LoopStats {
  /** Wall time inside node.run() and carrying out its actions (ms). */
  sliceMs = 0;
  /** Wall time in idle waits: nothing to run until a message or the clock (ms). */
  asleepMs = 0;
  /** Wall time in yields between slices, and how many there were. */
  yieldMs = 0;
  yields = 0;
  /** Iterations of the loop (calls to node.run). */
  runs = 0;

  /** The figures for the primary's "done" report. */
  report(): Record<string, number> {
    return { sliceMs: this.sliceMs, asleepMs: this.asleepMs, yieldMs: this.yieldMs, yields: this.yields, runs: this.runs };
  }
}
