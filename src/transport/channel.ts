// An authenticated, message-oriented channel over WebSocket (ws + msgpackr). Both the
// log channel and the control connections (arbiter, console sink) use it.
//
// Handshake: the server sends {t:"challenge", nonce, service}; the client answers
// {t:"auth", nonce, mac} where mac = HMAC(secret, "client"|service|serverNonce|clientNonce);
// the server checks it and answers {t:"welcome", mac} with HMAC(secret, "server"|service|
// clientNonce|serverNonce), which the client checks. The challenge and the auth also carry
// the framing version (CHANNEL_FRAMING_VERSION); each side refuses another. A peer that fails any step, sends a
// malformed or oversized message, or stays silent during the handshake is refused with a
// close reason and a log line; the server keeps serving.
//
// Before a peer has authenticated it is a stranger, and a stranger gets almost nothing:
// UNAUTH_MESSAGE_BYTES_MAX bytes in all (the handshake is one message of about 200 bytes;
// a 15 MB frame is cut off after its first few KiB instead of being buffered and
// unmasked), UNAUTH_DEADLINE_MS from its TCP connection to its proof (HTTP that never
// finishes included), and a place among at most UNAUTH_CONNS_MAX such connections (a new
// one displaces the oldest, so a flood cannot keep a real peer out for longer than its
// own handshake takes). Junk is dropped at once (terminate); a refusal with a reason
// waits at most CLOSE_WAIT_MS for the peer's side of the close handshake, not ws's 30 s.
// Refusal log lines are limited to REFUSAL_LOG_LINES_PER_S_MAX per server, so a flood does
// not turn into a flood of log lines on the hosts.
//
// Nothing here is process-wide: each server and channel logs where it was told to
// (ServerOptions.log, ConnectOptions.log; the process's default logger of ./log.ts when
// none is named), and a channel's simulated partition (ChannelFaults) is its own, or shared
// by the channels a host gives the same one.
import { EventEmitter } from "node:events";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Packr } from "msgpackr";
import type { ClientOptions, ServerOptions as WsServerOptions } from "ws";
import { WebSocket, WebSocketServer } from "ws";
import { mac, macOk, nonce } from "./auth.js";
import { type Logger, RefusalLog, log } from "./log.js";

// The process's default logger lives in ./log.ts; these names stay importable from here.
export { type Logger, REFUSAL_LOG_LINES_PER_S_MAX, log, setLogPrefix, setLogger } from "./log.js";

/** The largest message either side accepts from an authenticated peer (a log batch, a snapshot chunk). */
export const MESSAGE_BYTES_MAX = 16 * 1024 * 1024;
/** Bytes a peer may send in all before it has authenticated (WebSocket framing included). */
export const UNAUTH_MESSAGE_BYTES_MAX = 4 * 1024;
/** From a peer's TCP connection to its authentication, at most; then it is dropped. */
export const UNAUTH_DEADLINE_MS = 5000;
/** Connections a server holds that have not authenticated yet; a new one beyond this displaces the oldest. */
export const UNAUTH_CONNS_MAX = 64;
/** A refused peer's socket waits this long for the peer's close frame, then is destroyed. */
export const CLOSE_WAIT_MS = 500;
/** How long connect() waits for the server's handshake (the client's side of UNAUTH_DEADLINE_MS). */
export const HANDSHAKE_TIMEOUT_MS = UNAUTH_DEADLINE_MS;
/** Close codes (4000-4999 are for applications). */
export const CLOSE_MALFORMED = 4400;
export const CLOSE_AUTH = 4401;
export const CLOSE_REFUSED = 4403;
/**
 * The channel's framing, exchanged in the handshake (the server's challenge and the
 * client's auth carry it; a peer without it, an older ftvm, is refused with both versions
 * named). 2: large bytes fields travel as raw frames after their message (see sendRaw).
 */
export const CHANNEL_FRAMING_VERSION = 2;
/**
 * A bytes field at least this long travels as a WebSocket frame of its own after its
 * message, not packed into it: packing copied every payload byte into the packed message
 * (msgpackr's writeBuffer: 7-11% of the primary's and the switch's CPU under a bulk
 * receive), where a frame of its own goes to the socket as it is. Smaller fields stay
 * packed, where one more frame would cost more than the copy.
 */
export const RAW_PAYLOAD_MIN_BYTES = 16 * 1024;
/** Raw frames after one message, at most (a 16 MiB message of 16 KiB fields has 1,024). */
export const RAW_PAYLOADS_MAX = 4096;
/** Raw payload bytes of one message, at most: a message's whole size stays within MESSAGE_BYTES_MAX. */
export const RAW_BYTES_MAX = MESSAGE_BYTES_MAX;
/** How deep raw payloads are looked for: message, list, entry, record, then the bytes (a log batch's NET_RX data, the switch's input events, output chunks, clone chunks). */
export const RAW_SEARCH_DEPTH_MAX = 4;
/** The message field that says how many raw frames follow, and the key of the map that stands for a payload inside the message. */
const RAW_KEY = "\u0000raw";

/** The most bytes of UTF-8 a WebSocket close reason may hold (RFC 6455: 125 for the frame, less the 2-byte code); ws throws past it. */
export const CLOSE_REASON_BYTES_MAX = 123;

/**
 * A close reason cut to CLOSE_REASON_BYTES_MAX bytes of UTF-8, at a character boundary. A
 * longer one made ws throw a RangeError in close(), which ended a host as an internal
 * error (exit 70): 120 characters were cut before, and a reason with a few characters
 * outside ASCII is longer than that in bytes.
 */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= CLOSE_REASON_BYTES_MAX) return reason;
  let cut = reason.slice(0, CLOSE_REASON_BYTES_MAX);
  while (Buffer.byteLength(cut) > CLOSE_REASON_BYTES_MAX) cut = cut.slice(0, -1);
  // Not half of a surrogate pair.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return cut;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type Msg = { t: string; [k: string]: unknown };

export interface ChannelEvents {
  message: [Msg];
  close: [code: number, reason: string];
}

/**
 * A simulated network partition, for tests and demos: while `partitioned`, nothing is sent
 * and everything received is dropped, but the connection stays up (no close to notice), so
 * each side must detect the silence by its own timeout. One object may serve all of a
 * host's channels.
 */
export interface ChannelFaults {
  partitioned: boolean;
}

/** What a channel is given by whoever makes it. */
export interface ChannelOptions {
  /** Where its refusals go (default: the process's logger). */
  log?: Logger;
  /** Its partition switch (default: its own, off). */
  faults?: ChannelFaults;
}

/** One authenticated connection. */
export class Channel extends EventEmitter<ChannelEvents> {
  private closed = false;
  readonly faults: ChannelFaults;
  private readonly refusals: RefusalLog;
  bytesIn = 0;
  bytesOut = 0;
  /**
   * While a "message" event's handlers run: the frame the message was decoded from. Its
   * bytes fields are views into that frame, not copies (the I/O thread hands the frame's
   * memory over to the host's thread instead of cloning it: src/host/io-bytes.ts).
   */
  frame: Buffer | undefined;
  /**
   * While a "message" event's handlers run: whether `frame` holds the whole message. Not
   * when raw frames followed it (framing 2, see sendRaw): the frame then holds markers
   * where those payloads stand, so decoding it again would not give the message back.
   */
  frameWhole = false;

  constructor(
    readonly ws: WebSocket,
    readonly peer: string,
    o: ChannelOptions & { refusals?: RefusalLog } = {},
  ) {
    super();
    this.faults = o.faults ?? { partitioned: false };
    this.refusals = o.refusals ?? new RefusalLog(o.log ?? log);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (this.closed) return;
      // Raw frames are counted off whether or not a simulated partition drops their message,
      // so a partition that starts or ends between a message and its raw frames cannot make
      // a raw frame pass for a message.
      const p = this.pending;
      if (p) {
        if (!isBinary) return this.refuse(CLOSE_MALFORMED, "a text frame where a raw payload was due");
        p.bytes += data.length;
        if (p.bytes > RAW_BYTES_MAX) return this.refuse(CLOSE_MALFORMED, `raw payloads of one message over ${RAW_BYTES_MAX} bytes`);
        p.payloads.push(data);
        if (p.payloads.length < p.count) return;
        this.pending = undefined;
        if (p.dropped || this.faults.partitioned) return;
        this.bytesIn += p.frame.length + p.bytes;
        const why = attachRaw(p.m, p.payloads);
        if (why) return this.refuse(CLOSE_MALFORMED, why);
        return this.deliver(p.m, p.frame, false);
      }
      const m = decodeMessage(data, isBinary);
      if (typeof m === "string") return this.faults.partitioned ? undefined : this.refuse(CLOSE_MALFORMED, m);
      const count = (m as Record<string, unknown>)[RAW_KEY];
      if (count !== undefined) {
        if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > RAW_PAYLOADS_MAX) return this.refuse(CLOSE_MALFORMED, `a raw payload count must be 1..${RAW_PAYLOADS_MAX}, got ${String(count)}`);
        delete (m as Record<string, unknown>)[RAW_KEY];
        this.pending = { m, frame: data, count: count as number, payloads: [], bytes: 0, dropped: this.faults.partitioned };
        return;
      }
      if (this.faults.partitioned) return;
      this.bytesIn += data.length;
      this.deliver(m, data, true);
    });
    ws.on("close", (code, reason) => this.onClosed(code, reason.toString()));
    ws.on("error", () => this.onClosed(1006, "connection error"));
  }

  /** A message whose raw frames are still arriving (see sendRaw). */
  private pending?: { m: Msg; frame: Buffer; count: number; payloads: Buffer[]; bytes: number; dropped: boolean };

  private deliver(m: Msg, frame: Buffer, whole: boolean): void {
    this.frame = frame;
    this.frameWhole = whole;
    try {
      this.emit("message", m);
    } finally {
      this.frame = undefined;
      this.frameWhole = false;
    }
  }

  /** This channel's partition (see ChannelFaults); setting it sets its faults object's. */
  get partitioned(): boolean {
    return this.faults.partitioned;
  }
  set partitioned(on: boolean) {
    this.faults.partitioned = on;
  }

  /** Sends any map with a string `t` (typed protocols' messages too: see src/ft/protocol.ts). */
  send<M extends { readonly t: string }>(m: M): void {
    if (this.closed || this.faults.partitioned || this.ws.readyState !== WebSocket.OPEN) return;
    const payloads: Uint8Array[] = [];
    const lean = splitRaw(m, 0, payloads) as Record<string, unknown>;
    if (payloads.length === 0) {
      const b = packr.pack(m);
      this.bytesOut += b.length;
      this.ws.send(b);
      return;
    }
    this.sendRaw(lean, payloads);
  }

  /**
   * A message with its large bytes fields as raw frames (framing version 2): the message
   * itself, packed with each such field replaced by {RAW_KEY: index} and a RAW_KEY field
   * saying how many follow, then each field's bytes as a binary frame of its own, in one
   * socket write. ws sends a frame's payload as it is (unmasked from the server, a zero mask
   * from a client: see zeroMask), so the bytes are not copied on the way out; the receiver
   * puts them back where the markers stand before anyone sees the message.
   */
  private sendRaw(lean: Record<string, unknown>, payloads: Uint8Array[]): void {
    lean[RAW_KEY] = payloads.length;
    const head = packr.pack(lean);
    this.cork();
    try {
      this.bytesOut += head.length;
      this.ws.send(head);
      for (const p of payloads) {
        this.bytesOut += p.byteLength;
        this.ws.send(p);
      }
    } finally {
      this.uncork();
    }
  }

  /**
   * Holds this channel's writes until the matching uncork(): the messages sent in between
   * leave in one socket write, so the peer is woken, and reads, once for all of them (on
   * loopback each write also runs the receiver's TCP path in the sender). A host corks its
   * channels while it carries out one batch of its node's actions: a release's output and
   * durable-input marks to the switch then go together. Calls nest.
   */
  cork(): void {
    this.socket()?.cork();
  }

  uncork(): void {
    this.socket()?.uncork();
  }

  /** The TCP socket under the WebSocket (ws keeps it as `_socket`; absent once closed). */
  private socket(): Socket | undefined {
    const s = (this.ws as unknown as { _socket?: Socket | null })._socket;
    return s && !s.destroyed ? s : undefined;
  }

  /** Bytes queued in the socket but not yet sent (for back-pressure). */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes with a reason the peer sees (and logs it); the socket goes within CLOSE_WAIT_MS. */
  refuse(code: number, reason: string): void {
    if (this.closed) return;
    this.refusals.line(`refused ${this.peer}: ${reason}`);
    this.ws.close(code, closeReason(reason));
    this.onClosed(code, reason);
  }

  close(reason = "bye"): void {
    if (this.closed) return;
    this.ws.close(1000, closeReason(reason));
    this.onClosed(1000, reason);
  }

  /** Drops the connection without a goodbye (tests use it to cut the channel). */
  terminate(): void {
    this.ws.terminate();
    this.onClosed(1006, "terminated");
  }

  private onClosed(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.emit("close", code, reason);
  }
}

/** Decodes one received message: the message, or why it is refused (never throws). */
export function decodeMessage(data: Buffer, isBinary: boolean): Msg | string {
  if (!isBinary) return "text frames are not part of the protocol";
  let m: unknown;
  try {
    m = packr.unpack(data);
  } catch (e) {
    return `undecodable message (${(e as Error).message})`;
  }
  if (!m || typeof m !== "object" || typeof (m as Msg).t !== "string") return "a message must be a map with a string field t";
  return m as Msg;
}

/**
 * `v` with every bytes field of at least RAW_PAYLOAD_MIN_BYTES (to RAW_SEARCH_DEPTH_MAX
 * deep, in plain maps and lists) replaced by a marker {RAW_KEY: index into `out`}; `v`
 * itself when it has none. What is replaced is copied on the path to it (the caller's
 * message is never changed: the primary keeps its log batches for a backup that resumes).
 */
function splitRaw(v: unknown, depth: number, out: Uint8Array[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (v instanceof Uint8Array) {
    if (v.byteLength < RAW_PAYLOAD_MIN_BYTES || out.length >= RAW_PAYLOADS_MAX) return v;
    out.push(v);
    return { [RAW_KEY]: out.length - 1 };
  }
  if (depth >= RAW_SEARCH_DEPTH_MAX || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x !== "object" || x === null) continue;
      const y = splitRaw(x, depth + 1, out);
      if (y !== x) (copy ??= v.slice())[i] = y;
    }
    return copy ?? v;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  let copy: Record<string, unknown> | undefined;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x !== "object" || x === null) continue;
    const y = splitRaw(x, depth + 1, out);
    if (y !== x) (copy ??= { ...(v as Record<string, unknown>) })[k] = y;
  }
  return copy ?? v;
}

/** Puts the raw frames back where their markers stand in `m`; why not, when they do not match one to one. */
function attachRaw(m: Msg, payloads: Uint8Array[]): string | undefined {
  const used = new Uint8Array(payloads.length);
  let bad: string | undefined;
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return v;
    if (!Array.isArray(v)) {
      const i = (v as Record<string, unknown>)[RAW_KEY];
      if (i !== undefined) {
        if (!Number.isSafeInteger(i) || (i as number) < 0 || (i as number) >= payloads.length || used[i as number]) {
          bad ??= `a raw payload marker ${String(i)} of ${payloads.length}, or one used twice`;
          return v;
        }
        used[i as number] = 1;
        return payloads[i as number];
      }
    }
    if (depth >= RAW_SEARCH_DEPTH_MAX) return v;
    if (Array.isArray(v)) for (let k = 0; k < v.length; k++) v[k] = walk(v[k], depth + 1);
    else for (const k in v) (v as Record<string, unknown>)[k] = walk((v as Record<string, unknown>)[k], depth + 1);
    return v;
  };
  for (const k in m) if (k !== "t") m[k] = walk(m[k], 1);
  if (bad) return bad;
  if (used.some((u) => u === 0)) return `${payloads.length} raw payloads, not all of them in the message`;
  return undefined;
}

export interface ServerOptions {
  host?: string;
  port?: number;
  secret: string;
  service: string;
  onChannel(ch: Channel): void;
  /** Tighter (or looser) limits for strangers than the defaults (tests use a short deadline). */
  strangerLimits?: Partial<StrangerLimits>;
  /** Where the server and its channels log refusals and errors (default: the process's logger). */
  log?: Logger;
  /** The partition switch of the channels it accepts (default: each its own). */
  faults?: ChannelFaults;
}

export interface StrangerLimits {
  bytesMax: number;
  deadlineMs: number;
  connsMax: number;
}

export const STRANGER_LIMITS: StrangerLimits = { bytesMax: UNAUTH_MESSAGE_BYTES_MAX, deadlineMs: UNAUTH_DEADLINE_MS, connsMax: UNAUTH_CONNS_MAX };

export interface Server {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Listens for authenticated channels. */
export function listen(o: ServerOptions): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Our own HTTP server, so every TCP connection is seen (and timed) from its accept on,
    // not only once it has upgraded. Requests that are not an upgrade get 426 and a close.
    const http = createHttpServer((_req, res) => {
      res.writeHead(426, { Connection: "close", "Content-Type": "text/plain" });
      res.end("upgrade to a WebSocket and authenticate\n");
    });
    const wss = new WebSocketServer({ server: http, maxPayload: MESSAGE_BYTES_MAX, perMessageDeflate: false, closeTimeout: CLOSE_WAIT_MS } as WsServerOptions);
    const lim: StrangerLimits = { ...STRANGER_LIMITS, ...o.strangerLimits };
    const out = o.log ?? log;
    const refusals = new RefusalLog(out);
    /** Connections not yet authenticated, oldest first, with their deadline timers. */
    const strangers = new Map<Socket, NodeJS.Timeout>();
    const settle = (sock: Socket) => {
      clearTimeout(strangers.get(sock));
      strangers.delete(sock);
    };
    const drop = (sock: Socket, why: string) => {
      if (!strangers.has(sock)) return;
      settle(sock);
      refusals.line(`refused ${sock.remoteAddress}:${sock.remotePort}: ${why}`);
      sock.destroy();
    };
    http.on("connection", (sock: Socket) => {
      if (strangers.size >= lim.connsMax) drop(strangers.keys().next().value!, `displaced: more than ${lim.connsMax} connections are waiting to authenticate`);
      strangers.set(
        sock,
        setTimeout(() => drop(sock, `no authentication within ${lim.deadlineMs} ms`), lim.deadlineMs),
      );
      sock.on("close", () => settle(sock));
    });
    http.on("clientError", (_e, sock: Socket) => drop(sock, "not an HTTP upgrade request"));
    wss.on("error", reject);
    http.on("error", reject);
    wss.on("connection", (ws, req) => {
      const sock = req.socket;
      const peer = `${sock.remoteAddress}:${sock.remotePort}`;
      if (!strangers.has(sock)) return ws.terminate();
      const serverNonce = nonce();
      let received = 0;
      const count = (chunk: Buffer) => {
        received += chunk.length;
        if (received > lim.bytesMax) drop(sock, `sent more than ${lim.bytesMax} bytes before authenticating`);
      };
      sock.on("data", count);
      // Before authentication any protocol error (a bad frame, a frame too large) is junk.
      ws.on("error", (e) => drop(sock, `protocol error before authenticating: ${e.message}`));
      const refuse = (code: number, why: string) => {
        settle(sock);
        refusals.line(`refused ${peer}: ${why}`);
        ws.close(code, closeReason(why));
      };
      ws.once("message", (data: Buffer, isBinary: boolean) => {
        if (!strangers.has(sock)) return;
        const m = decodeMessage(data, isBinary);
        if (typeof m === "string" || m.t !== "auth" || typeof m.nonce !== "string") {
          refuse(CLOSE_AUTH, `expected an auth message, got ${typeof m === "string" ? m : `"${m.t}"`}`);
          return;
        }
        if (!macOk(mac(o.secret, "client", o.service, serverNonce, m.nonce), m.mac)) {
          refuse(CLOSE_AUTH, "authentication failed (wrong secret or service)");
          return;
        }
        if (m.framing !== CHANNEL_FRAMING_VERSION) {
          refuse(CLOSE_REFUSED, `the peer speaks channel framing ${m.framing === undefined ? "1 (an older ftvm)" : String(m.framing)}, this server ${CHANNEL_FRAMING_VERSION}`);
          return;
        }
        settle(sock);
        sock.off("data", count);
        ws.removeAllListeners("error");
        ws.send(packr.pack({ t: "welcome", mac: mac(o.secret, "server", o.service, m.nonce, serverNonce) }));
        o.onChannel(new Channel(ws, peer, { refusals, faults: o.faults }));
      });
      ws.send(packr.pack({ t: "challenge", nonce: serverNonce, service: o.service, framing: CHANNEL_FRAMING_VERSION }));
    });
    http.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => {
      http.removeListener("error", reject);
      wss.removeListener("error", reject);
      http.on("error", (e) => out(`server error: ${e.message}`));
      wss.on("error", (e) => out(`server error: ${e.message}`));
      const port = (http.address() as AddressInfo).port;
      resolve({
        port,
        url: `ws://${o.host ?? "127.0.0.1"}:${port}`,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            for (const sock of [...strangers.keys()]) {
              settle(sock);
              sock.destroy();
            }
            wss.close();
            http.close(() => r());
            http.closeAllConnections();
          }),
      });
    });
  });
}

/**
 * The masking key of every frame this side sends as a WebSocket client: all zeros. RFC
 * 6455 masks client frames so that a browser's script cannot make a cache or proxy on
 * the way read chosen bytes as a request; these channels join ftvm's own processes,
 * authenticated by a shared secret, and carry no browser's bytes. A random key cost a
 * full pass over every byte sent and another over every byte received (ws's fallback
 * without its native addon masks in a JavaScript loop, and allocates a copy): about a
 * third of FT's transmit path, whose bytes go host -> switch as a client. With a zero
 * key ws (8.4 and later) sends the payload as it is and the receiver skips unmasking;
 * the frames stay valid WebSocket frames (the mask bit is set, the key is zero).
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

export interface ConnectOptions extends ChannelOptions {
  /** How long to wait for the server's handshake. */
  timeoutMs?: number;
}

/** Connects and authenticates; rejects with a reason when the peer refuses or is not there. */
export function connect(url: string, secret: string, service: string, opts: number | ConnectOptions = {}): Promise<Channel> {
  const o: ConnectOptions = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const timeoutMs = o.timeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: MESSAGE_BYTES_MAX, handshakeTimeout: timeoutMs, perMessageDeflate: false, closeTimeout: CLOSE_WAIT_MS, generateMask: zeroMask } as ClientOptions);
    const clientNonce = nonce();
    let serverNonce = "";
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(`${url}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no handshake within ${timeoutMs} ms`), timeoutMs);
    // The server is a stranger too until it has proved the secret: it gets the same small allowance.
    let received = 0;
    let sock: Socket | undefined;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > UNAUTH_MESSAGE_BYTES_MAX) fail(`the server sent more than ${UNAUTH_MESSAGE_BYTES_MAX} bytes before authenticating`);
    };
    // Counted from "open" on: ws attaches its own reader then, and a listener added any
    // earlier would take the bytes that came with the upgrade response away from it.
    ws.on("upgrade", (res) => (sock = res.socket as Socket));
    ws.on("open", () => sock?.on("data", count));
    ws.on("error", (e) => fail(e.message));
    ws.on("close", (code, reason) => fail(`closed (${code}${reason.length ? ": " + reason.toString() : ""})`));
    const onMessage = (data: Buffer, isBinary: boolean) => {
      const m = decodeMessage(data, isBinary);
      if (typeof m === "string") return fail(m);
      if (m.t === "challenge") {
        if (m.service !== service) return fail(`expected service "${service}", the server offers "${String(m.service)}"`);
        if (m.framing !== CHANNEL_FRAMING_VERSION) return fail(`the server speaks channel framing ${m.framing === undefined ? "1 (an older ftvm)" : String(m.framing)}, this client ${CHANNEL_FRAMING_VERSION}`);
        serverNonce = String(m.nonce);
        ws.send(packr.pack({ t: "auth", nonce: clientNonce, mac: mac(secret, "client", service, serverNonce, clientNonce), framing: CHANNEL_FRAMING_VERSION }));
        return;
      }
      if (m.t === "welcome") {
        if (!macOk(mac(secret, "server", service, clientNonce, serverNonce), m.mac)) return fail("the server failed authentication");
        done = true;
        clearTimeout(timer);
        sock?.off("data", count);
        ws.off("message", onMessage);
        ws.removeAllListeners("close");
        ws.removeAllListeners("error");
        resolve(new Channel(ws, url, { log: o.log, faults: o.faults }));
        return;
      }
      fail(`unexpected "${m.t}" during the handshake`);
    };
    ws.on("message", onMessage);
  });
}
