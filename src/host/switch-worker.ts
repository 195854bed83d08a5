// The switch thread's code (a worker_threads worker; src/host/switch-thread.ts starts it
// and speaks for it in the launcher). It runs the virtual switch's server
// (switch-server.ts) with its own event loop and its own heap: the heap is the point (see
// switch-thread.ts), and the launcher's status lines and sink no longer take turns with
// the switch's sockets either.
import { type MessagePort, workerData } from "node:worker_threads";
import { SwitchServer, type SwitchServerOptions } from "./switch-server.js";
import type { SwitchCommand, SwitchEvent } from "./switch-thread.js";

/** How often the launcher's copy of the switch's figures is brought up to date (its status lines read them). */
export const STATS_INTERVAL_MS = 100;

const { port, options } = workerData as { port: MessagePort; options: Omit<SwitchServerOptions, "log"> };
const post = (e: SwitchEvent) => port.postMessage(e);
let srv: SwitchServer | undefined;
let timer: NodeJS.Timeout | undefined;

const figures = (): SwitchEvent => ({ op: "figures", stats: { ...srv!.sw.stats }, openClients: srv!.sw.openClients() });

SwitchServer.start({ ...options, log: (line) => post({ op: "log", line }) }).then(
  (s) => {
    srv = s;
    post({ op: "started", url: s.url, address: s.address() });
    timer = setInterval(() => post(figures()), STATS_INTERVAL_MS);
  },
  (e: Error) => post({ op: "failed", error: e.message }),
);

port.on("message", (c: SwitchCommand) => {
  if (!srv) return;
  switch (c.op) {
    case "service-lost":
      srv.serviceLost(c.reason);
      post(figures());
      return;
    case "close":
      clearInterval(timer);
      void srv.close().then(() => {
        // The last figures, exact: the summary is made of them.
        post(figures());
        post({ op: "closed" });
      });
      return;
  }
});
