// The console sink as a server: it stands outside both hosts' failure domain (in the
// `ftvm ft` launcher), takes output chunks from whichever host is live, applies the
// fencing and de-duplication rules of src/ft/sink.ts, writes the guest's output, and
// acknowledges how far the stream has been delivered. Hosts also send it their status
// lines and their news (went live, lost an election, finished).
import { SinkState } from "../ft/sink.js";
import type { Channel, Server } from "../transport/channel.js";
import { CLOSE_MALFORMED, listen, log } from "../transport/channel.js";

export const SINK_SERVICE = "ftvm-sink";

export interface HostStatus {
  host: string;
  /** "primary" (with a backup), "alone", "backup", "halted". */
  role: string;
  pid: number;
  epoch: number;
  icount: number;
  /** Instructions the backup trails the primary by (primary only). */
  lagIcount?: number;
  lagMs?: number;
  /** Share of the time the primary holds itself back because its backup trails (0..1). */
  throttle?: number;
  logBytesPerSec?: number;
  /** Log bytes this primary has sent its backups since it started (benchmarks difference it). */
  logBytes?: number;
  /** Bytes this host wrote to its log channels (events, heartbeats, framing) since it started. */
  logChannelBytes?: number;
  heldOutputs?: number;
  heldBytes?: number;
  /** Disk writes waiting for the backup's acknowledgement (shared disk only). */
  heldWrites?: number;
}

export interface SinkCallbacks {
  write(bytes: Uint8Array): void;
  status?(s: HostStatus): void;
  news?(host: string, text: string, data: Record<string, unknown>): void;
  done?(host: string, data: Record<string, unknown>): void;
}

export async function startSink(secret: string, cb: SinkCallbacks, port = 0): Promise<Server & { state: SinkState }> {
  const state = new SinkState();
  const server = await listen({
    port,
    secret,
    service: SINK_SERVICE,
    onChannel(ch: Channel) {
      ch.on("message", (m) => {
        switch (m.t) {
          case "out": {
            if (!Number.isSafeInteger(m.epoch) || !Number.isSafeInteger(m.offset) || !(m.bytes instanceof Uint8Array))
              return ch.refuse(CLOSE_MALFORMED, "out needs epoch, offset and bytes");
            const v = state.accept({ epoch: m.epoch as number, offset: m.offset as number, bytes: m.bytes });
            if (v.kind === "write") cb.write(v.bytes);
            if (v.kind === "stale" || v.kind === "gap") {
              log(`sink refused output: ${v.reason}`);
              return ch.send({ t: "out-refused", reason: v.reason, delivered: state.delivered, epoch: state.epoch });
            }
            return ch.send({ t: "out-ack", delivered: state.delivered });
          }
          case "status":
            return cb.status?.(m.status as HostStatus);
          case "news":
            return cb.news?.(String(m.host), String(m.text), m);
          case "done":
            return cb.done?.(String(m.host), m);
          default:
            return ch.refuse(CLOSE_MALFORMED, `unknown message "${m.t}"`);
        }
      });
    },
  });
  return { ...server, state };
}
