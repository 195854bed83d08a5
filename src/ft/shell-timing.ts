// The timings every shell of an FT node keeps (the socket host in src/host/ft-host.ts and
// the simulator in src/sim/sim.ts), in one place so the simulator's seeds run with the
// very values the hosts use.

/** A starting backup tries to reach its primary this many times (a primary on a busy machine may be slow to listen). */
export const PRIMARY_CONNECT_ATTEMPTS_MAX = 100;
/** ...this long apart. */
export const PRIMARY_CONNECT_RETRY_MS = 50;
/** A host that halted or finished exits this long after (so its last news reaches the sink). */
export const EXIT_DELAY_MS = 50;
/** A lost console sink connection is tried again after this long. */
export const SINK_RECONNECT_MS = 100;
