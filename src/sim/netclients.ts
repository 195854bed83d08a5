// The network simulator's clients (./netsim.ts): each speaks RESP to programs/redis.s
// through the virtual switch, doing SET, GET and INCR on a few shared keys, with up to
// `depth` requests in flight (pipelined, as redis clients may). A client records every
// request as a history entry (./linearizable.ts) and checks its own reply stream: a reply
// must answer the oldest request outstanding on its connection, so a reply that answers
// nothing (written twice), or bytes that are no reply, are violations on the spot. A
// client may abort its connection (a reset): what it had outstanding there stays without
// an answer (its outcome unknown) and it goes on over a new connection.
//
// Pure: the simulator decides when bytes travel; this file only encodes, parses and keeps
// the books. Bounded: a client's script is at most CLIENT_OPS_MAX operations and a reply
// parser holds at most REPLY_BYTES_MAX unparsed bytes.
import type { HistoryEntry, KvOp, KvResult } from "./linearizable.js";
import type { Prng } from "./prng.js";

/** Operations one simulated client runs at most. */
export const CLIENT_OPS_MAX = 1000;
/** Unparsed reply bytes a client holds; more is a malformed stream (no reply here is that long). */
export const REPLY_BYTES_MAX = 64 * 1024;

const te = new TextEncoder();
const td = new TextDecoder();

/** A command in RESP's multibulk form, as redis clients send it. */
export function encodeCommand(args: readonly string[]): Uint8Array {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${te.encode(a).length}\r\n${a}\r\n`;
  return te.encode(s);
}

/** One parsed RESP2 reply: simple string, error, integer or bulk string (null for nil). */
export type Reply = { simple: string } | { error: string } | { int: bigint } | { bulk: string | null };

/** Parses a byte stream of RESP2 replies incrementally. Throws on bytes that are no reply. */
export class ReplyParser {
  private buf = new Uint8Array(0);

  push(bytes: Uint8Array): void {
    if (this.buf.length + bytes.length > REPLY_BYTES_MAX) throw new Error(`more than ${REPLY_BYTES_MAX} bytes without a whole reply`);
    const b = new Uint8Array(this.buf.length + bytes.length);
    b.set(this.buf);
    b.set(bytes, this.buf.length);
    this.buf = b;
  }

  /** The next whole reply, or undefined when more bytes are needed. */
  next(): Reply | undefined {
    const b = this.buf;
    const eol = lineEnd(b, 0);
    if (eol < 0) return undefined;
    const line = td.decode(b.subarray(1, eol));
    let used = eol + 2;
    let r: Reply;
    switch (b[0]) {
      case 0x2b: // +
        r = { simple: line };
        break;
      case 0x2d: // -
        r = { error: line };
        break;
      case 0x3a: // :
        if (!/^-?[0-9]+$/.test(line)) throw new Error(`integer reply ${JSON.stringify(line)}`);
        r = { int: BigInt(line) };
        break;
      case 0x24: {
        // $
        const n = Number(line);
        if (!Number.isInteger(n) || n < -1) throw new Error(`bulk length ${JSON.stringify(line)}`);
        if (n === -1) r = { bulk: null };
        else {
          if (b.length < used + n + 2) return undefined;
          if (b[used + n] !== 13 || b[used + n + 1] !== 10) throw new Error("bulk string not ended by CRLF");
          r = { bulk: td.decode(b.subarray(used, used + n)) };
          used += n + 2;
        }
        break;
      }
      default:
        throw new Error(`a reply starting with byte ${b[0]}`);
    }
    this.buf = b.slice(used);
    return r;
  }
}

function lineEnd(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}

/** What a reply means for the operation it answers (the checker's KvResult). */
export function resultOf(op: KvOp, r: Reply): KvResult {
  if ("error" in r) return { error: r.error };
  if (op.kind === "set") return "simple" in r && r.simple === "OK" ? { ok: true } : { error: `unexpected reply ${JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}` };
  if (op.kind === "get") return "bulk" in r ? { value: r.bulk } : { error: "a GET answered with no bulk string" };
  return "int" in r ? { int: r.int } : { error: "an INCR answered with no integer" };
}

export function commandOf(op: KvOp): string[] {
  return op.kind === "set" ? ["SET", op.key, op.value] : op.kind === "get" ? ["GET", op.key] : ["INCR", op.key];
}

export interface ClientPlan {
  /** Operations in order. */
  ops: KvOp[];
  /** Requests in flight at most. */
  depth: number;
  /** Pause between a reply and the next request (ms). */
  thinkMs: number;
  /** Simulated times at which the client aborts its connection and opens a new one. */
  resets: number[];
  startMs: number;
}

/** A client's script: registers r* take SET and GET, counters c* take INCR and GET. */
export function makeClientPlan(rng: Prng, client: number, opsCount: number, expectedMs: number): ClientPlan {
  const n = Math.min(opsCount, CLIENT_OPS_MAX);
  const ops: KvOp[] = [];
  for (let i = 0; i < n; i++) {
    const counter = rng.chance(0.5);
    const key = counter ? `c${rng.int(0, 1)}` : `r${rng.int(0, 1)}`;
    if (rng.chance(0.35)) ops.push({ kind: "get", key });
    else if (counter) ops.push({ kind: "incr", key });
    else ops.push({ kind: "set", key, value: `v${client}.${i}` });
  }
  const resets: number[] = [];
  if (rng.chance(0.3)) for (let k = rng.int(1, 2); k > 0; k--) resets.push(rng.range(0.05, 0.8) * expectedMs);
  resets.sort((a, b) => a - b);
  return { ops, depth: rng.int(1, 3), thinkMs: rng.range(2, 12), resets, startMs: rng.range(0, 20) };
}

/** One connection of a client, from its open until the client aborts it. */
export class ClientConn {
  readonly parser = new ReplyParser();
  /** Requests sent on this connection and not answered, oldest first. */
  readonly outstanding: HistoryEntry[] = [];
  aborted = false;
  /** The switch's id for it, once the switch accepted it. */
  id: number | undefined;
  /** The guest closed it, or the switch dropped it. */
  ended: "guest-closed" | "destroyed" | undefined;
  constructor(readonly n: number) {}
}

export class SimClient {
  readonly history: HistoryEntry[] = [];
  next = 0;
  conn: ClientConn | undefined;
  conns = 0;
  done = false;
  readonly violations: string[] = [];
  /** Replies received (for statistics). */
  replies = 0;

  constructor(
    readonly id: number,
    readonly plan: ClientPlan,
  ) {}

  /** The next request to send now, if the script and the depth allow one (the caller sends it). */
  nextRequest(nowMs: number): { entry: HistoryEntry; bytes: Uint8Array } | undefined {
    const c = this.conn;
    if (!c || c.aborted || c.ended || c.id === undefined) return undefined;
    if (this.next >= this.plan.ops.length || c.outstanding.length >= this.plan.depth) return undefined;
    const op = this.plan.ops[this.next++];
    const entry: HistoryEntry = { client: this.id, op, invokeMs: nowMs };
    this.history.push(entry);
    c.outstanding.push(entry);
    return { entry, bytes: encodeCommand(commandOf(op)) };
  }

  /** Reply bytes arrived on `c`; returns how many requests they answered. */
  receive(c: ClientConn, bytes: Uint8Array, nowMs: number): number {
    if (c.aborted) return 0;
    let answered = 0;
    try {
      c.parser.push(bytes);
      for (let r = c.parser.next(); r; r = c.parser.next()) {
        const e = c.outstanding.shift();
        if (!e) {
          this.violations.push(`client ${this.id} connection ${c.n}: a reply (${describeReply(r)}) with no request outstanding (a reply written twice?)`);
          continue;
        }
        e.returnMs = nowMs;
        e.result = resultOf(e.op, r);
        answered++;
        this.replies++;
      }
    } catch (err) {
      this.violations.push(`client ${this.id} connection ${c.n}: bytes that are no RESP reply: ${(err as Error).message}`);
      c.aborted = true;
    }
    this.checkDone();
    return answered;
  }

  /** Aborts the current connection: its outstanding requests stay without an answer. */
  abort(): ClientConn | undefined {
    const c = this.conn;
    if (!c) return undefined;
    c.aborted = true;
    this.conn = undefined;
    return c;
  }

  openConn(): ClientConn {
    const c = new ClientConn(++this.conns);
    this.conn = c;
    return c;
  }

  /** Finished: every operation sent, and none outstanding on the live connection. */
  checkDone(): boolean {
    if (this.done) return true;
    if (this.next < this.plan.ops.length) return false;
    if (this.conn && !this.conn.aborted && this.conn.outstanding.length > 0) return false;
    this.done = true;
    return true;
  }
}

export function describeReply(r: Reply): string {
  if ("simple" in r) return `+${r.simple}`;
  if ("error" in r) return `-${r.error}`;
  if ("int" in r) return `:${r.int}`;
  return r.bulk === null ? "nil" : JSON.stringify(r.bulk);
}
