// The virtual switch of `ftvm ft --listen` on a thread of its own (switch-worker.ts runs
// it), with the surface of a SwitchServer that the launcher uses.
//
// Why a thread: the switch moves every network byte, allocating a buffer per socket read
// and per packed message while its heap stays small, and V8 then ran a mark-compact every
// 80-200 ms in it (src/host/gc-tuning.ts has the mechanism): about a third of the
// switch's CPU. The hosts are started with a larger initial old-generation limit, which
// removes that; the launcher is the user's own process, already started, but a thread it
// starts gets a heap of its own, configured from the process's V8 flags as they are when
// it starts. So the launcher sets the hosts' flag, then starts the thread.
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { startWorkerBeside } from "./worker-start.js";
import { setFlagsFromString } from "node:v8";
import type { SwitchStats } from "../net/switch.js";
import type { SwitchServerOptions } from "./switch-server.js";
import { hostGcFlags } from "./gc-tuning.js";

export type SwitchCommand = { op: "service-lost"; reason: string } | { op: "close" };
export type SwitchEvent =
  | { op: "started"; url: string; address: { host: string; port: number } }
  | { op: "failed"; error: string }
  | { op: "figures"; stats: SwitchStats; openClients: number }
  | { op: "log"; line: string }
  | { op: "closed" };

/** The switch's figures as last reported by its thread (at most STATS_INTERVAL_MS old; exact once closed). */
export class SwitchFigures {
  stats: SwitchStats = { clients: 0, refusedClients: 0, bytesIn: 0, bytesOut: 0, duplicateChunks: 0, duplicateBytes: 0, staleRefused: 0, redeliveredBytes: 0, overflowDisconnects: 0, discardedBytes: 0, primaries: 0, diverged: 0, uncheckedBytes: 0 };
  open = 0;
  openClients(): number {
    return this.open;
  }
}

export class SwitchThread {
  readonly sw = new SwitchFigures();
  private closed?: Promise<void>;
  private onClosed: () => void = () => undefined;

  private constructor(
    private readonly port: MessagePort,
    private readonly worker: Worker,
    readonly url: string,
    private readonly addr: { host: string; port: number },
  ) {}

  /** Starts the switch on its thread; rejects with the server's reason (a port in use). */
  static start(o: SwitchServerOptions): Promise<SwitchThread> {
    for (const f of hostGcFlags()) setFlagsFromString(f);
    const { port1, port2 } = new MessageChannel();
    const { log, ...options } = o;
    const worker = startWorker(port2, options);
    return new Promise((resolve, reject) => {
      let t: SwitchThread | undefined;
      worker.on("error", (e) => {
        // A programmer's error in the switch: clients cannot be served; say why and stop, as an uncaught error in the launcher would.
        log(`switch: the switch thread failed: ${e.stack ?? e.message}`);
        if (!t) return reject(e);
        process.exit(70);
      });
      port1.on("message", (e: SwitchEvent) => {
        switch (e.op) {
          case "log":
            return log(e.line);
          case "failed":
            port1.close();
            void worker.terminate();
            return reject(new Error(e.error));
          case "started":
            t = new SwitchThread(port1, worker, e.url, e.address);
            return resolve(t);
          case "figures":
            if (t) [t.sw.stats, t.sw.open] = [e.stats, e.openClients];
            return;
          case "closed":
            return t?.onClosed();
        }
      });
    });
  }

  address(): { host: string; port: number } {
    return this.addr;
  }

  serviceLost(reason: string): void {
    this.port.postMessage({ op: "service-lost", reason } satisfies SwitchCommand);
  }

  /** Closes the switch (its figures are final after this) and ends its thread. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.onClosed = resolve;
      this.port.postMessage({ op: "close" } satisfies SwitchCommand);
    }).then(async () => {
      this.port.close();
      await this.worker.terminate();
    });
    return this.closed;
  }
}

/** Starts switch-worker (see worker-start.ts). */
function startWorker(port: MessagePort, options: Omit<SwitchServerOptions, "log">): Worker {
  return startWorkerBeside(import.meta.url, "switch-worker", { workerData: { port, options }, transferList: [port] });
}
