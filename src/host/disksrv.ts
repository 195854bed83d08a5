// The shared disk as a server: it stands outside both hosts' failure domain (in the
// `ftvm ft` launcher, like the console sink), owns the image (a FileDisk), and performs
// the requests of whichever host is live. Protocol (over an authenticated channel; the
// service's "/2" added the cluster id and the request's seq):
//   client → server  {t:"hello", cluster, host?}             first, on every connection
//   server → client  {t:"geometry", blocks, blockBytes}     its answer, or
//                    {t:"wrong-cluster", reason}            to a host of another cluster (then closed)
//   client → server  {t:"req", id, cluster, epoch, op, block, count, seq, data?}
//   server → client  {t:"done", id, status, data?} | {t:"refused", id, reason, epoch, diverged?}
//
// Cluster: the server belongs to one cluster (the launcher's, set before any host starts;
// without one it takes the first a hello carries) and refuses hosts and requests of
// another: their epochs come from another arbiter and mean nothing here.
//
// Comparison: a new primary re-issues the writes its predecessor may have performed (the
// same request of the guest: same seq, block and bytes). The server keeps the writes it
// accepted, by seq, up to DISK_COMPARE_BYTES_MAX of their data (the oldest are forgotten
// first), and refuses a write whose seq it knows with other blocks or bytes: a divergence
// (two executions writing through one disk), reported with epoch, host and block, and
// counted; the writer is told, and halts.
//
// Fencing: the server remembers the highest epoch any request carried (only a host that
// won an epoch submits, so every epoch seen was granted) and refuses a WRITE that arrives
// from an older epoch with a reason: the client reports it and its host halts as deposed.
// The check is made on arrival only: a write accepted before any newer epoch was seen is
// part of the old epoch's history, and a newer write to the same blocks queues behind it
// (arrival order), so it cannot land on top of the newer one. Reads from any epoch are
// served: they change nothing, and a deposed host cannot release what it computes from
// them (the sink fences its output).
//
// Ordering: requests that overlap (a write with anything on the same blocks) are performed
// one at a time, in arrival order. The device already keeps a host from issuing conflicting
// requests together, but two hosts' copies of one request can meet here (an old primary's
// write still in flight when its successor re-issues it); serialising them means a late
// copy can never land after a newer write to the same blocks. A request re-sent with an id
// that is still queued or in flight is not performed again: the answer goes to the newest
// connection that asked.
import type { DiskGeometry, DiskRequest } from "../devices/disk.js";
import { DISK_READ, DISK_REQUEST_BYTES_MAX, DISK_REQUESTS_MAX, DISK_STATUS, DISK_WRITE } from "../devices/disk.js";
import type { Channel, Server } from "../transport/channel.js";
import { CLOSE_MALFORMED, CLOSE_REFUSED, listen, log } from "../transport/channel.js";
import { clusterIdProblem } from "../arbiter/core.js";
import { FileDisk } from "./disk.js";

/** The service name doubles as the protocol's version: "/2" added the cluster id and the request's seq. */
export const DISK_SERVICE = "ftvm-disk/2";
/** Data of accepted writes the server keeps to compare re-issued writes with (the oldest are forgotten first). */
export const DISK_COMPARE_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Requests one connection may have queued or in flight; more is a misbehaving client (its
 * device has DISK_REQUESTS_MAX slots). The server now performs each request as it arrives
 * (see pump), so no queue forms; the bound stays as the guard of the queue's size should
 * performing ever wait again (an asynchronous back-end).
 */
export const DISK_SERVER_PENDING_PER_CONNECTION_MAX = 4 * DISK_REQUESTS_MAX;
/** Request ids are strings chosen by the client (its identity and a counter). */
const REQUEST_ID_CHARS_MAX = 100;

export interface DiskServerStats {
  reads: number;
  writes: number;
  /** Writes refused because they came from an epoch older than one already seen. */
  refusedStale: number;
  /** Requests that failed on the host (DISK_E_IO). */
  ioErrors: number;
  /** Re-sent requests answered without performing them again. */
  joined: number;
  /** The highest epoch any request carried. */
  epoch: number;
  /** Re-issued writes whose blocks or bytes differed from the write the server had accepted for the same request (refused). */
  diverged: number;
  /** Hosts and requests refused because they belong to another cluster. */
  refusedCluster: number;
}

interface Job {
  id: string;
  epoch: number;
  req: DiskRequest;
  /** Who gets the answer: the connection that asked last. */
  ch: Channel;
  started: boolean;
}

export interface DiskServer extends Server {
  stats: DiskServerStats;
  geometry: DiskGeometry;
  /** The cluster the server belongs to (undefined until set or learned from a first hello). */
  readonly cluster: string | undefined;
  setCluster(id: string): void;
  /** Requests queued or being performed now (the dashboard shows them). */
  pending(): number;
}

function overlaps(a: DiskRequest, b: DiskRequest): boolean {
  return a.block < b.block + b.count && b.block < a.block + a.count && (a.op === DISK_WRITE || b.op === DISK_WRITE);
}

/** Why `m` is not a valid request for this disk, or undefined. */
function requestProblem(m: Record<string, unknown>, g: DiskGeometry): string | undefined {
  if (typeof m.id !== "string" || m.id.length === 0 || m.id.length > REQUEST_ID_CHARS_MAX) return "a request needs a string id";
  if (!Number.isSafeInteger(m.epoch) || (m.epoch as number) < 0) return `request ${m.id}: epoch must be a non-negative integer`;
  if (m.op !== DISK_READ && m.op !== DISK_WRITE) return `request ${m.id}: op must be DISK_READ or DISK_WRITE`;
  if (m.seq !== undefined && (!Number.isSafeInteger(m.seq) || (m.seq as number) < 0)) return `request ${m.id}: seq must be a non-negative integer`;
  const block = m.block as number;
  const count = m.count as number;
  if (!Number.isSafeInteger(block) || !Number.isSafeInteger(count) || block < 0 || count < 1) return `request ${m.id}: block and count must be integers (count at least 1)`;
  if (count * g.blockBytes > DISK_REQUEST_BYTES_MAX) return `request ${m.id}: ${count} blocks exceed ${DISK_REQUEST_BYTES_MAX} bytes`;
  if (block + count > g.blocks) return `request ${m.id}: blocks ${block}..${block + count - 1} lie beyond the disk's ${g.blocks}`;
  if (m.op === DISK_WRITE && !(m.data instanceof Uint8Array && m.data.length === count * g.blockBytes)) return `request ${m.id}: a write needs exactly ${count * g.blockBytes} bytes of data`;
  if (m.op === DISK_READ && m.data !== undefined && m.data !== null) return `request ${m.id}: a read carries no data`;
  return undefined;
}

export async function startDiskServer(secret: string, imagePath: string, port = 0, clusterId?: string): Promise<DiskServer> {
  const file = await FileDisk.open(imagePath);
  const g = file.geometry;
  const stats: DiskServerStats = { reads: 0, writes: 0, refusedStale: 0, ioErrors: 0, joined: 0, epoch: 0, diverged: 0, refusedCluster: 0 };
  let cluster = clusterId;
  /** Accepted writes by seq (insertion order: the oldest first), and their data's total. */
  const accepted = new Map<number, { block: number; count: number; data: Uint8Array }>();
  let acceptedBytes = 0;
  const remember = (seq: number, block: number, count: number, data: Uint8Array) => {
    if (accepted.has(seq)) return;
    accepted.set(seq, { block, count, data });
    acceptedBytes += data.length;
    for (const [k, v] of accepted) {
      if (acceptedBytes <= DISK_COMPARE_BYTES_MAX) break;
      accepted.delete(k);
      acceptedBytes -= v.data.length;
    }
  };
  /** Where a write differs from the write accepted for the same request, or undefined. */
  const differs = (seq: number, block: number, count: number, data: Uint8Array): string | undefined => {
    const a = accepted.get(seq);
    if (!a) return undefined;
    if (a.block !== block || a.count !== count) return `blocks ${block}..${block + count - 1}, but it wrote blocks ${a.block}..${a.block + a.count - 1}`;
    for (let i = 0; i < data.length; i++)
      if (data[i] !== a.data[i]) return `other bytes at block ${block + Math.floor(i / g.blockBytes)} (byte ${i % g.blockBytes})`;
    return undefined;
  };
  /** Queued and in-flight requests, in arrival order. */
  let jobs: Job[] = [];
  const perChannel = new Map<Channel, number>();
  const count = (ch: Channel, d: number) => perChannel.set(ch, (perChannel.get(ch) ?? 0) + d);

  const refuse = (j: Job) => {
    stats.refusedStale++;
    const reason = `write from epoch ${j.epoch}, the disk has seen epoch ${stats.epoch}`;
    log(`disk refused a write: ${reason}`);
    j.ch.send({ t: "refused", id: j.id, reason, epoch: stats.epoch });
  };

  /** Answers a performed request and forgets it. */
  const finish = (j: Job, status: number, data: Uint8Array | undefined) => {
    jobs = jobs.filter((x) => x !== j);
    count(j.ch, -1);
    if (status === DISK_STATUS.OK) {
      if (j.req.op === DISK_READ) stats.reads++;
      else stats.writes++;
    } else {
      stats.ioErrors++;
      log(`disk I/O error on request ${j.id}: ${file.lastError?.message ?? "unknown"}`);
    }
    j.ch.send(data ? { t: "done", id: j.id, status, data } : { t: "done", id: j.id, status });
  };

  /**
   * Performs every queued request that overlaps nothing before it. At once (FileDisk.perform):
   * a request is at most DISK_REQUEST_BYTES_MAX bytes of a local file, microseconds from the
   * page cache, while the I/O thread pool cost every shared-disk request two thread
   * hand-overs on the write's critical path (0.45 ms at the median, 7 ms at p90, measured
   * with other work running). Performing at once also keeps arrival order trivially: a
   * request that arrives is performed before the next message is read, so a queue forms
   * only if this changes back to asynchronous I/O.
   */
  const pump = () => {
    for (let i = 0; i < jobs.length; ) {
      const j = jobs[i];
      if (j.started || jobs.slice(0, i).some((e) => overlaps(e.req, j.req))) {
        i++;
        continue;
      }
      j.started = true;
      const r = file.perform(j.req);
      finish(j, r.status, r.data);
      // The list changed under us: look again from the start (it holds a few requests at most).
      i = 0;
    }
  };

  const server = await listen({
    port,
    secret,
    service: DISK_SERVICE,
    onChannel(ch: Channel) {
      ch.on("close", () => perChannel.delete(ch));
      let host = "a host";
      const wrongCluster = (theirs: unknown) => {
        stats.refusedCluster++;
        const reason = `${host} belongs to cluster ${String(theirs ?? "(none given)")}, this disk server to cluster ${cluster}`;
        ch.send({ t: "wrong-cluster", reason });
        ch.refuse(CLOSE_REFUSED, reason);
      };
      // Answers leave corked until the messages that arrived together are all handled: a
      // primary whose acknowledgement released several writes sends them in one socket
      // write (DiskGate.take), and gets their answers in one, woken once for all of them.
      let corked = false;
      const uncork = () => {
        corked = false;
        ch.uncork();
      };
      ch.on("message", (m) => {
        if (!corked) {
          corked = true;
          ch.cork();
          process.nextTick(uncork);
        }
        // The geometry answers a hello (sent unasked, it could reach the client before it listens).
        if (m.t === "hello") {
          if (typeof m.host === "string" && m.host.length > 0 && m.host.length <= REQUEST_ID_CHARS_MAX) host = `host ${m.host}`;
          if (m.cluster !== undefined) {
            const problem = clusterIdProblem(m.cluster);
            if (problem) return ch.refuse(CLOSE_MALFORMED, `hello: ${problem}`);
            cluster ??= m.cluster as string;
          }
          if (cluster !== undefined && m.cluster !== cluster) return wrongCluster(m.cluster);
          return ch.send({ t: "geometry", blocks: g.blocks, blockBytes: g.blockBytes });
        }
        if (m.t !== "req") return ch.refuse(CLOSE_MALFORMED, `unknown message "${m.t}"`);
        if (cluster !== undefined && m.cluster !== cluster) return wrongCluster(m.cluster);
        const problem = requestProblem(m, g);
        if (problem) return ch.refuse(CLOSE_MALFORMED, problem);
        const id = m.id as string;
        const epoch = m.epoch as number;
        const op = m.op as number;
        const same = jobs.find((j) => j.id === id);
        if (same) {
          // A re-sent request (the client reconnected): answer the newest asker, perform it once.
          count(same.ch, -1);
          same.ch = ch;
          count(ch, 1);
          stats.joined++;
          return;
        }
        if ((perChannel.get(ch) ?? 0) >= DISK_SERVER_PENDING_PER_CONNECTION_MAX)
          return ch.refuse(CLOSE_MALFORMED, `more than ${DISK_SERVER_PENDING_PER_CONNECTION_MAX} requests pending on one connection`);
        if (epoch > stats.epoch) stats.epoch = epoch;
        const job: Job = {
          id,
          epoch,
          ch,
          started: false,
          req: { seq: 0, slot: 0, op, block: m.block as number, count: m.count as number, addr: 0, tag: 0, data: op === DISK_WRITE ? (m.data as Uint8Array) : undefined },
        };
        if (op === DISK_WRITE && epoch < stats.epoch) return refuse(job);
        const seq = m.seq;
        if (op === DISK_WRITE && Number.isSafeInteger(seq) && (seq as number) > 0) {
          const why = differs(seq as number, job.req.block, job.req.count, job.req.data!);
          if (why) {
            stats.diverged++;
            const reason = `write of request ${String(seq)} from ${host} in epoch ${epoch} diverges: ${why} for that request: a divergence`;
            log(`disk refused a write: ${reason}`);
            return ch.send({ t: "refused", id, reason, epoch: stats.epoch, diverged: true });
          }
          remember(seq as number, job.req.block, job.req.count, job.req.data!);
        }
        jobs.push(job);
        count(ch, 1);
        pump();
      });
    },
  });
  return {
    ...server,
    stats,
    geometry: g,
    get cluster() {
      return cluster;
    },
    setCluster(id: string) {
      cluster = id;
    },
    pending: () => jobs.length,
    async close() {
      await server.close();
      await file.close();
    },
  };
}
