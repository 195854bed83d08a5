// Garbage-collector and C allocator settings for the FT hosts the launcher starts, and
// (the collector's only) for the virtual switch's thread in the launcher (switch-thread.ts).
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

// The C allocator. Every buffer above (socket reads, frames joined across reads, packed
// batches) is an ArrayBuffer whose memory comes from glibc's malloc. glibc serves a request
// above its mmap threshold (128 KiB at first) with a fresh mmap and returns memory above its
// trim threshold to the kernel on free, so a host streaming 1 MiB log batches got fresh
// pages for most of them, and the kernel zeroed and mapped every page on first touch: under
// `perf -a` during a bulk receive, page faults were 4-22% of the hosts' threads (the
// backup's I/O thread most: it joins every batch's socket reads into a new buffer). With
// both thresholds raised, freed buffers go back to malloc's free lists and the next one
// reuses their pages: a loop that allocates and fills 1 MiB buffers (keeping 8) took 51-58
// minor faults and 0.7-0.8 ms of CPU per MiB with the defaults, 4.7-4.9 and 0.1 ms with these
// (node 20, this machine). The cost is that up to HOST_MALLOC_TRIM_THRESHOLD_BYTES of freed
// memory may stay with the process instead of going back to the kernel.

/** Allocations at least this large get their own mmap (glibc's M_MMAP_THRESHOLD; above MESSAGE_BYTES_MAX's 16 MiB). */
export const HOST_MALLOC_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
/** Free memory at the top of a heap beyond this goes back to the kernel (glibc's M_TRIM_THRESHOLD). */
export const HOST_MALLOC_TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024;

/**
 * Environment variables every host process is started with: glibc reads them once at start
 * (a running process cannot change its own, so the launcher's switch thread keeps the
 * defaults). Values the user set in the environment win; other C libraries ignore them.
 */
export function hostMallocEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? String(HOST_MALLOC_MMAP_THRESHOLD_BYTES),
    MALLOC_TRIM_THRESHOLD_: env.MALLOC_TRIM_THRESHOLD_ ?? String(HOST_MALLOC_TRIM_THRESHOLD_BYTES),
  };
}
