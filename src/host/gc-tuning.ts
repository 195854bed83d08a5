// Garbage-collector settings for the FT hosts the launcher starts, and for the virtual
// switch's thread in the launcher (switch-thread.ts).
//
// Why: a host that moves network data allocates a fresh ArrayBuffer for every socket read,
// every WebSocket frame that spans reads and every packed log batch, while its JavaScript
// heap stays small (about 12 MB). V8 starts a major (mark-compact) collection whenever the
// old generation's headroom below its limit is smaller than the young generation's
// capacity; with a small heap the limit sits about 15 MB above the live size, the young
// generation grows to 16 MB under this allocation rate, and the host ran a full
// mark-compact every 80-200 ms during a bulk transfer (`node --trace-gc
// --trace-incremental-marking`: "Start (allocation limit)", 12 MB of 27 MB, each freeing
// well under 1 MB). Its marking was about a third of the primary's and the switch's CPU
// under `perf`. A larger initial old-generation limit removes that trigger: during a
// 200 MB receive the hosts then ran no mark-compact at all, only scavenges. The cost is
// that garbage which does reach the old generation may grow to this size before it is
// collected, well within what a host may use (test/flood-e2e.test.ts bounds its peak
// resident memory at 200 MB).

/** The old generation's initial allocation limit of each host process (V8's --initial-old-space-size). */
export const HOST_OLD_SPACE_INITIAL_MIB = 64;

/** Node flags every host process is started with (before any FTVM_HOST_NODE_ARGS, which may override them). */
export function hostGcFlags(): string[] {
  return [`--initial-old-space-size=${HOST_OLD_SPACE_INITIAL_MIB}`];
}
