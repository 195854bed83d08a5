// An authenticated, message-oriented channel over WebSocket (ws + msgpackr). Both the
// log channel and the control connections (arbiter, console sink) use it.
//
// Handshake: the server sends {t:"challenge", nonce, service}; the client answers
// {t:"auth", nonce, mac} where mac = HMAC(secret, "client"|service|serverNonce|clientNonce);
// the server checks it and answers {t:"welcome", mac} with HMAC(secret, "server"|service|
// clientNonce|serverNonce), which the client checks. A peer that fails any step, sends a
// malformed or oversized message, or stays silent during the handshake is refused with a
// close reason and a log line; the server keeps serving.
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import { Packr } from "msgpackr";
import { WebSocket, WebSocketServer } from "ws";
import { mac, macOk, nonce } from "./auth.js";

/** The largest message either side accepts (a log batch, a snapshot chunk). */
export const MESSAGE_BYTES_MAX = 16 * 1024 * 1024;
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** Close codes (4000-4999 are for applications). */
export const CLOSE_MALFORMED = 4400;
export const CLOSE_AUTH = 4401;
export const CLOSE_REFUSED = 4403;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type Msg = { t: string; [k: string]: unknown };

export interface ChannelEvents {
  message: [Msg];
  close: [code: number, reason: string];
}

/** One authenticated connection. */
export class Channel extends EventEmitter<ChannelEvents> {
  private closed = false;
  /**
   * Simulates a network partition for tests and demos: from now on nothing is sent and
   * everything received is dropped, but the connection stays up (no close to notice),
   * so each side must detect the silence by its own timeout.
   */
  partitioned = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly ws: WebSocket,
    readonly peer: string,
  ) {
    super();
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (this.closed || this.partitioned) return;
      this.bytesIn += data.length;
      const m = decode(data, isBinary);
      if (typeof m === "string") return this.refuse(CLOSE_MALFORMED, m);
      this.emit("message", m);
    });
    ws.on("close", (code, reason) => this.onClosed(code, reason.toString()));
    ws.on("error", () => this.onClosed(1006, "connection error"));
  }

  send(m: Msg): void {
    if (this.closed || this.partitioned || this.ws.readyState !== WebSocket.OPEN) return;
    const b = packr.pack(m);
    this.bytesOut += b.length;
    this.ws.send(b);
  }

  /** Bytes queued in the socket but not yet sent (for back-pressure). */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes with a reason the peer sees (and logs it). */
  refuse(code: number, reason: string): void {
    if (this.closed) return;
    log(`refused ${this.peer}: ${reason}`);
    this.ws.close(code, reason.slice(0, 120));
    this.onClosed(code, reason);
  }

  close(reason = "bye"): void {
    if (this.closed) return;
    this.ws.close(1000, reason);
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

function decode(data: Buffer, isBinary: boolean): Msg | string {
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

/** Operating errors and refusals go to stderr with the process role as a prefix. */
export let log = (line: string): void => {
  process.stderr.write(`${logPrefix}${line}\n`);
};
let logPrefix = "";
export function setLogPrefix(p: string): void {
  logPrefix = p;
}
export function setLogger(f: (line: string) => void): void {
  log = f;
}

export interface ServerOptions {
  host?: string;
  port?: number;
  secret: string;
  service: string;
  onChannel(ch: Channel): void;
}

export interface Server {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Listens for authenticated channels. */
export function listen(o: ServerOptions): Promise<Server> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host: o.host ?? "127.0.0.1", port: o.port ?? 0, maxPayload: MESSAGE_BYTES_MAX });
    wss.on("error", reject);
    wss.on("connection", (ws, req) => {
      const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
      const serverNonce = nonce();
      let authed = false;
      const timer = setTimeout(() => {
        if (!authed) {
          log(`refused ${peer}: no authentication within ${HANDSHAKE_TIMEOUT_MS} ms`);
          ws.close(CLOSE_AUTH, "authentication timeout");
        }
      }, HANDSHAKE_TIMEOUT_MS);
      ws.on("error", () => undefined);
      ws.once("message", (data: Buffer, isBinary: boolean) => {
        clearTimeout(timer);
        const m = decode(data, isBinary);
        if (typeof m === "string" || m.t !== "auth" || typeof m.nonce !== "string") {
          log(`refused ${peer}: expected an auth message, got ${typeof m === "string" ? m : `"${m.t}"`}`);
          ws.close(CLOSE_AUTH, "expected auth");
          return;
        }
        if (!macOk(mac(o.secret, "client", o.service, serverNonce, m.nonce), m.mac)) {
          log(`refused ${peer}: authentication failed (wrong secret or service)`);
          ws.close(CLOSE_AUTH, "authentication failed");
          return;
        }
        authed = true;
        ws.send(packr.pack({ t: "welcome", mac: mac(o.secret, "server", o.service, m.nonce, serverNonce) }));
        o.onChannel(new Channel(ws, peer));
      });
      ws.send(packr.pack({ t: "challenge", nonce: serverNonce, service: o.service }));
    });
    wss.on("listening", () => {
      const port = (wss.address() as AddressInfo).port;
      resolve({
        port,
        url: `ws://${o.host ?? "127.0.0.1"}:${port}`,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close(() => r());
          }),
      });
    });
  });
}

/** Connects and authenticates; rejects with a reason when the peer refuses or is not there. */
export function connect(url: string, secret: string, service: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: MESSAGE_BYTES_MAX, handshakeTimeout: timeoutMs });
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
    ws.on("error", (e) => fail(e.message));
    ws.on("close", (code, reason) => fail(`closed (${code}${reason.length ? ": " + reason.toString() : ""})`));
    const onMessage = (data: Buffer, isBinary: boolean) => {
      const m = decode(data, isBinary);
      if (typeof m === "string") return fail(m);
      if (m.t === "challenge") {
        if (m.service !== service) return fail(`expected service "${service}", the server offers "${String(m.service)}"`);
        serverNonce = String(m.nonce);
        ws.send(packr.pack({ t: "auth", nonce: clientNonce, mac: mac(secret, "client", service, serverNonce, clientNonce) }));
        return;
      }
      if (m.t === "welcome") {
        if (!macOk(mac(secret, "server", service, clientNonce, serverNonce), m.mac)) return fail("the server failed authentication");
        done = true;
        clearTimeout(timer);
        ws.off("message", onMessage);
        ws.removeAllListeners("close");
        ws.removeAllListeners("error");
        resolve(new Channel(ws, url));
        return;
      }
      fail(`unexpected "${m.t}" during the handshake`);
    };
    ws.on("message", onMessage);
  });
}
