// A TCP port for a server that must be named before it starts: the launcher picks the
// arbiter's port so that the hosts can start at the same time as the arbiter (each takes
// seconds to load on a busy machine). The port comes from below the kernel's ephemeral
// range: an outgoing connection can take any free port in that range as its local port
// while the arbiter is still loading, but never one below it, so only another server
// binding the very same port could take it first.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Linux's default ephemeral range starts here (net.ipv4.ip_local_port_range). */
const EPHEMERAL_LOW_DEFAULT = 32768;
/** Ports below this are often taken by well-known services. */
const PORT_LOW = 10000;
/** Random candidates tried before falling back to one the kernel picks. */
const PORT_ATTEMPTS_MAX = 50;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : EPHEMERAL_LOW_DEFAULT;
  } catch {
    return EPHEMERAL_LOW_DEFAULT;
  }
}

/** Whether `port` on `host` can be listened on now (and is left free again). */
function tryListen(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(undefined));
    srv.listen({ host, port, exclusive: true }, () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => resolve(got));
    });
  });
}

/** A port on `host` that was free a moment ago, below the ephemeral range when there is room there. */
export async function freePort(host: string): Promise<number> {
  const high = ephemeralLow() - 1;
  if (high > PORT_LOW) {
    for (let i = 0; i < PORT_ATTEMPTS_MAX; i++) {
      const port = PORT_LOW + Math.floor(Math.random() * (high - PORT_LOW + 1));
      if ((await tryListen(host, port)) !== undefined) return port;
    }
  }
  const port = await tryListen(host, 0);
  if (port === undefined) throw new Error(`no free TCP port on ${host}`);
  return port;
}
