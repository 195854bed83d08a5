// Clients for programs/redis.s (or any server that speaks the same RESP subset) that time
// every request: each connection sends one request (SET, GET or INCR in turn), waits for
// its reply, and sends the next, as redis-benchmark -P 1 does. Unlike redis-benchmark,
// which prints only percentiles over its whole run, these keep when each request was sent
// and answered, on this process's clock, so a benchmark can cut the run into windows
// afterwards (before a clone, during it) and line them up with the cluster's events.
import { type Socket, connect } from "node:net";
import { performance } from "node:perf_hooks";

/** Requests timed in one run at most; past this, clients go on but their requests are not kept (the bound keeps memory fixed). */
export const timedRequestsMax = 4_000_000;
/** A reply larger than this is no reply redis.s gives to these requests: the connection is given up. */
export const replyBytesMax = 64 * 1024;

export interface TimedRequests {
  /** Send times (ms, performance.now() of this process), one per request, in the order kept. */
  readonly sentMs: Float64Array;
  /** Reply times; NaN for a request still unanswered when the clients stopped. */
  readonly repliedMs: Float64Array;
  /** Which client sent each request. */
  readonly client: Uint16Array;
  /** How many entries of the arrays are filled. */
  readonly count: number;
}

export interface RespClients {
  /** Stops sending; requests in flight stay unanswered (NaN). */
  stop(): TimedRequests;
  /** Error replies and broken connections so far, one line each (a benchmark reports them). */
  readonly errors: string[];
}

/**
 * Parses one RESP reply at the start of `buf`: its length in bytes, or 0 when incomplete.
 * Only what redis.s answers to SET, GET and INCR: "+", "-", ":" lines and "$" bulk strings
 * (including the nil "$-1").
 */
export function respReplyLength(buf: Buffer): number {
  const eol = buf.indexOf("\r\n");
  if (eol < 0) return 0;
  const t = buf[0];
  if (t === 0x2b || t === 0x2d || t === 0x3a) return eol + 2;
  if (t !== 0x24) throw new Error(`unexpected RESP reply type "${String.fromCharCode(t)}"`);
  const n = Number(buf.subarray(1, eol).toString("latin1"));
  if (!Number.isSafeInteger(n) || n < -1) throw new Error(`malformed RESP bulk length "${buf.subarray(1, eol).toString("latin1")}"`);
  if (n === -1) return eol + 2;
  const end = eol + 2 + n + 2;
  return buf.length >= end ? end : 0;
}

function command(args: string[]): Buffer {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return Buffer.from(s);
}

/** Starts `clients` connections to host:port, each with its own keys; they run until stop(). */
export async function startRespClients(host: string, port: number, clients: number): Promise<RespClients> {
  const sentMs = new Float64Array(timedRequestsMax);
  const repliedMs = new Float64Array(timedRequestsMax).fill(NaN);
  const client = new Uint16Array(timedRequestsMax);
  let count = 0;
  let stopped = false;
  const errors: string[] = [];
  const sockets: Socket[] = [];
  const one = async (id: number): Promise<void> => {
    const s = connect({ host, port, noDelay: true });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    let buf: Buffer = Buffer.alloc(0);
    let n = 0;
    let slot = -1;
    const next = () => {
      if (stopped) return;
      const k = n++ % 3;
      const cmd = k === 0 ? command(["SET", `k${id}`, `v${n}`]) : k === 1 ? command(["GET", `k${id}`]) : command(["INCR", `c${id}`]);
      slot = count < timedRequestsMax ? count++ : -1;
      if (slot >= 0) {
        sentMs[slot] = performance.now();
        client[slot] = id;
      }
      s.write(cmd);
    };
    s.on("data", (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let len: number;
      try {
        len = respReplyLength(buf);
      } catch (e) {
        errors.push(`client ${id}: ${(e as Error).message}`);
        s.destroy();
        return;
      }
      if (len === 0) {
        if (buf.length > replyBytesMax) {
          errors.push(`client ${id}: a reply of more than ${replyBytesMax} bytes`);
          s.destroy();
        }
        return;
      }
      if (slot >= 0) repliedMs[slot] = performance.now();
      if (buf[0] === 0x2d) errors.push(`client ${id}: ${buf.subarray(1, buf.indexOf("\r\n")).toString()}`);
      buf = buf.subarray(len);
      if (buf.length > 0) {
        errors.push(`client ${id}: ${buf.length} bytes after a reply, with one request in flight`);
        s.destroy();
        return;
      }
      next();
    });
    s.on("error", (e) => {
      if (!stopped) errors.push(`client ${id}: ${e.message}`);
    });
    s.on("close", () => {
      if (!stopped) errors.push(`client ${id}: connection closed`);
    });
    next();
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => one(i)));
  return {
    errors,
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
      return { sentMs, repliedMs, client, count };
    },
  };
}
