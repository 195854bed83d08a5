// The console sink as a server: it stands outside both hosts' failure domain (in the
// `ftvm ft` launcher), takes output chunks from whichever host is live, applies the
// cluster check, fencing, comparison and de-duplication rules of src/ft/sink.ts, writes
// the guest's output, and acknowledges how far the stream has been delivered. Hosts also
// send it their status lines and their news (went live, lost an election, finished).
//
// Protocol (service SINK_SERVICE; "/2" added the hello and the cluster id):
//   host → sink  {t:"hello", host, cluster}       first; a host of another cluster is told
//                                                  {t:"wrong-cluster", reason, cluster} and refused
//   host → sink  {t:"out", cluster, epoch, offset, bytes}
//   sink → host  {t:"out-ack", delivered} | {t:"out-refused", reason, delivered, epoch?, diverged?}
//   host → sink  {t:"status"|"news"|"done", ...}
//   console input: {t:"in-from"|"in-durable"} and back {t:"in"|"in-eof"} (src/host/console-input.ts)
import { SinkState } from "../ft/sink.js";
import { HOST_ID_CHARS_MAX, clusterIdProblem } from "../arbiter/core.js";
import type { Channel, Server } from "../transport/channel.js";
import { CLOSE_MALFORMED, CLOSE_REFUSED, listen, log } from "../transport/channel.js";

/** The service name doubles as the protocol's version: "/2" added the hello and the cluster id. */
export const SINK_SERVICE = "ftvm-sink/2";

import { type Role, isRole } from "../ft/node.js";

export interface HostStatus {
  host: string;
  /** The node's role now ("primary" with a backup, "alone", "backup", ...): it changes at failover. */
  role: Role;
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
  /** A joining backup's clone so far: bytes received of all it carries (memory, and a non-shared disk's image). */
  clone?: { bytes: number; totalBytes: number };
}

export interface SinkCallbacks {
  write(bytes: Uint8Array): void;
  status?(s: HostStatus): void;
  news?(host: string, text: string, data: Record<string, unknown>): void;
  done?(host: string, data: Record<string, unknown>): void;
  /** Output refused as a divergence (re-sent bytes that differ from what was written). */
  diverged?(host: string, epoch: number, offset: number, reason: string): void;
  /** Console input for the guest (ConsoleInServer); without it, hosts' asks are ignored. */
  consoleIn?: { from(ch: Channel, host: string, epoch: number, offset: number): void; durable(host: string, offset: number): void };
}

/**
 * `cluster`: the sink's cluster (the launcher knows it from its arbiter before any host
 * starts); without one the sink takes the first cluster a host says hello with.
 */
export async function startSink(secret: string, cb: SinkCallbacks, port = 0, cluster?: string, host?: string): Promise<Server & { state: SinkState }> {
  const state = new SinkState(cluster);
  const server = await listen({
    host,
    port,
    secret,
    service: SINK_SERVICE,
    onChannel(ch: Channel) {
      let host: string | undefined;
      const wrongCluster = (reason: string) => {
        ch.send({ t: "wrong-cluster", reason, cluster: state.cluster });
        ch.refuse(CLOSE_REFUSED, reason);
      };
      ch.on("message", (m) => {
        if (host === undefined) {
          if (m.t !== "hello" || typeof m.host !== "string" || m.host.length === 0 || m.host.length > HOST_ID_CHARS_MAX) return ch.refuse(CLOSE_MALFORMED, "expected hello {host, cluster} first");
          const problem = clusterIdProblem(m.cluster);
          if (problem) return ch.refuse(CLOSE_MALFORMED, `hello: ${problem}`);
          if (state.cluster === undefined) state.cluster = m.cluster as string;
          if (m.cluster !== state.cluster) {
            state.refusedCluster++;
            return wrongCluster(`host ${m.host} belongs to cluster ${String(m.cluster)}, this sink to cluster ${state.cluster}`);
          }
          host = m.host;
          return;
        }
        switch (m.t) {
          case "out": {
            if (!Number.isSafeInteger(m.epoch) || !Number.isSafeInteger(m.offset) || !(m.bytes instanceof Uint8Array))
              return ch.refuse(CLOSE_MALFORMED, "out needs epoch, offset and bytes");
            const v = state.accept({ epoch: m.epoch as number, offset: m.offset as number, bytes: m.bytes, cluster: typeof m.cluster === "string" ? m.cluster : undefined });
            if (v.kind === "write") cb.write(v.bytes);
            if (v.kind === "wrong-cluster") {
              log(`sink refused output of host ${host}: ${v.reason}`);
              return wrongCluster(v.reason);
            }
            if (v.kind === "diverged") {
              log(`sink refused output of host ${host} (epoch ${String(m.epoch)}, offset ${v.offset}): ${v.reason}`);
              cb.diverged?.(host, m.epoch as number, v.offset, v.reason);
              return ch.send({ t: "out-refused", reason: v.reason, delivered: state.delivered, diverged: true });
            }
            if (v.kind === "stale" || v.kind === "gap") {
              log(`sink refused output of host ${host}: ${v.reason}`);
              return ch.send({ t: "out-refused", reason: v.reason, delivered: state.delivered, epoch: state.epoch });
            }
            return ch.send({ t: "out-ack", delivered: state.delivered });
          }
          case "status": {
            const st = m.status as HostStatus | undefined;
            // A status line is read by the launcher's view and its kill decisions: checked, not cast.
            if (!st || typeof st !== "object" || !isRole(st.role) || typeof st.host !== "string" || !Number.isSafeInteger(st.pid) || !Number.isSafeInteger(st.epoch) || !Number.isSafeInteger(st.icount))
              return ch.refuse(CLOSE_MALFORMED, "malformed status: needs host, role, pid, epoch and icount");
            if (st.clone !== undefined && !(typeof st.clone === "object" && st.clone !== null && Number.isSafeInteger(st.clone.bytes) && Number.isSafeInteger(st.clone.totalBytes)))
              return ch.refuse(CLOSE_MALFORMED, "malformed status: clone needs bytes and totalBytes");
            return cb.status?.(st);
          }
          case "news":
            return cb.news?.(String(m.host), String(m.text), m);
          case "done":
            return cb.done?.(String(m.host), m);
          case "in-from":
            if (!Number.isSafeInteger(m.epoch) || !Number.isSafeInteger(m.offset) || (m.offset as number) < 0) return ch.refuse(CLOSE_MALFORMED, "in-from needs epoch and offset");
            return cb.consoleIn?.from(ch, host, m.epoch as number, m.offset as number);
          case "in-durable":
            if (!Number.isSafeInteger(m.offset) || (m.offset as number) < 0) return ch.refuse(CLOSE_MALFORMED, "in-durable needs an offset");
            return cb.consoleIn?.durable(host, m.offset as number);
          default:
            return ch.refuse(CLOSE_MALFORMED, `unknown message "${m.t}"`);
        }
      });
    },
  });
  return { ...server, state };
}
