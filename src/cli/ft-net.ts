// The network part of `ftvm ft --listen`: the virtual switch in the launcher (outside
// both hosts' failure domain) and its lines in the summary.
import type { Switch } from "../net/switch.js";
import { SwitchServer } from "../host/switch-server.js";
import { hostPort } from "./hosts.js";

export async function startClusterSwitch(listen: string, secret: string, arbiterUrl: string, logLine: (s: string) => void, info: (s: string) => void): Promise<SwitchServer> {
  const { host, port } = hostPort(listen, "listen");
  const srv = await SwitchServer.start({ secret, host, port, arbiterUrl, log: logLine });
  const a = srv.address();
  // Always shown (also with --quiet): clients and scripts need the address.
  info(`ftvm ft: network clients connect to ${a.host}:${a.port} (virtual switch)\n`);
  return srv;
}

export function switchSummary(sw: Switch): string {
  const s = sw.stats;
  return (
    `  network: ${s.clients} clients (${s.refusedClients} refused); ${s.bytesIn.toLocaleString("en-US")} bytes in, ${s.bytesOut.toLocaleString("en-US")} bytes out, each byte exactly once; ` +
    `re-delivered to a new primary ${s.redeliveredBytes} bytes; duplicates dropped ${s.duplicateChunks} chunks (${s.duplicateBytes} bytes); stale outputs refused ${s.staleRefused}; ` +
    `disconnected for overflow ${s.overflowDisconnects}\n`
  );
}
