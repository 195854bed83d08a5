// The network part of `ftvm ft --listen`: the virtual switch in the launcher (outside
// both hosts' failure domain) and its lines in the summary.
import type { Switch } from "../net/switch.js";
import { SwitchThread } from "./switch-thread.js";
import { HostError } from "./errors.js";

/** `--listen [HOST:]PORT` as the launcher takes it (a bad value is refused with exit 2, as a usage error). */
function hostPort(s: string, name: string): { host: string; port: number } {
  const m = /^(?:([^:]+):)?(\d+)$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new HostError(`--${name} takes HOST:PORT or PORT, got "${s}"`, 2);
  return { host: m[1] ?? "127.0.0.1", port: Number(m[2]) };
}

export async function startClusterSwitch(listen: string, secret: string, arbiterUrl: string, logLine: (s: string) => void, info: (s: string) => void, cluster?: string): Promise<SwitchThread> {
  const { host, port } = hostPort(listen, "listen");
  // On a thread of its own, for its heap (switch-thread.ts).
  const srv = await SwitchThread.start({ secret, host, port, arbiterUrl, cluster, log: logLine });
  const a = srv.address();
  // Always shown (also with --quiet): clients and scripts need the address.
  info(`ftvm ft: network clients connect to ${a.host}:${a.port} (virtual switch)\n`);
  return srv;
}

export function switchSummary(sw: { stats: Switch["stats"] }): string {
  const s = sw.stats;
  return (
    `  network: ${s.clients} clients (${s.refusedClients} refused); ${s.bytesIn.toLocaleString("en-US")} bytes in, ${s.bytesOut.toLocaleString("en-US")} bytes out, each byte exactly once; ` +
    `re-delivered to a new primary ${s.redeliveredBytes} bytes; duplicates dropped ${s.duplicateChunks} chunks (${s.duplicateBytes} bytes); stale outputs refused ${s.staleRefused}; ` +
    `disconnected for overflow or unread replies ${s.overflowDisconnects}` +
    (s.discardedBytes > 0 ? ` (${s.discardedBytes.toLocaleString("en-US")} bytes of replies to them discarded)` : "") +
    `; divergences refused ${s.diverged}\n`
  );
}
