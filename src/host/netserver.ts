// The TCP plumbing of plain runs (`ftvm run|record --listen`): a real server whose
// accepted connections, received bytes and disconnects go into a NetInbox (what arrived),
// and which writes the chunks the guest transmitted (drained from the NIC) to the sockets.
// Nothing here decides what the guest sees or when: the live environment takes events
// from the inbox at instruction boundaries and logs them.
//
// Limits: a client with more than connBytesMax of input the guest has not read is
// disconnected (reading pauses well before that, so only a client that ignores TCP flow
// control meets it). Replies a client leaves unread are watched per client
// (src/host/reply-backlog.ts, the same rule as the FT virtual switch): past
// CONN_OUTPUT_PAUSE_BYTES it is slowed (its socket is not read and its waiting input is
// held back from the guest), past CONN_OUTPUT_BYTES_MAX, or reading nothing for
// CONN_OUTPUT_STALL_MS, it is disconnected. Each disconnect gets a log line; the guest
// sees an ordinary NET_CLOSE.
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import { NET_CONNS_MAX, type NetChunk } from "../devices/nic.js";
import { NetInbox, NET_INBOX_CONN_BYTES_MAX } from "../net/inbox.js";
import { ReplyBacklog } from "./reply-backlog.js";

export interface NetServerOptions {
  host?: string;
  port: number;
  /** Where log lines go (a client disconnected for overflowing, a refused connection). */
  log: (line: string) => void;
  /** Input a connection may have waiting for the guest (default NET_INBOX_CONN_BYTES_MAX). */
  connBytesMax?: number;
  /** Reading from a socket pauses while it has this much waiting (default a quarter of connBytesMax). */
  pauseBytes?: number;
  /** Connections served at once (default, and at most, the NIC's NET_CONNS_MAX); more are refused. */
  connsMax?: number;
}

interface Client {
  socket: Socket;
  peer: string;
  generation: number;
  /** The socket is gone (error, refused); what the guest still sends to it is dropped. */
  dead: boolean;
  /** Not read because the guest has too much of its input waiting. */
  paused: boolean;
  backlog: ReplyBacklog;
}

export class NetServer {
  readonly inbox: NetInbox;
  private readonly clients: (Client | undefined)[];
  private readonly generations: number[];
  private readonly pauseBytes: number;
  /** Called whenever input arrived, so a waiting run loop wakes up. */
  onActivity: () => void = () => undefined;

  private constructor(
    private readonly server: Server,
    private readonly opts: NetServerOptions,
  ) {
    this.inbox = new NetInbox(Math.min(opts.connsMax ?? NET_CONNS_MAX, NET_CONNS_MAX), opts.connBytesMax ?? NET_INBOX_CONN_BYTES_MAX);
    this.clients = new Array<Client | undefined>(this.inbox.connsMax);
    this.generations = new Array<number>(this.inbox.connsMax).fill(0);
    this.pauseBytes = opts.pauseBytes ?? Math.floor(this.inbox.connBytesMax / 4);
    server.on("connection", (s) => this.accept(s));
  }

  static listen(opts: NetServerOptions): Promise<NetServer> {
    const server = createServer({ allowHalfOpen: true });
    const net = new NetServer(server, opts);
    return new Promise((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(Object.assign(new Error(`cannot listen on ${opts.host ?? "127.0.0.1"}:${opts.port}: ${e.message}`), { code: e.code })),
      );
      server.listen(opts.port, opts.host ?? "127.0.0.1", () => {
        server.removeAllListeners("error");
        server.on("error", (e) => opts.log(`net: server error: ${e.message}`));
        resolve(net);
      });
    });
  }

  /** The address actually bound (port 0 picks a free one). */
  address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Writes what the guest transmitted; a close ends the socket after its last bytes. */
  transmit(chunks: readonly NetChunk[]): void {
    for (const ch of chunks) {
      const c = this.clients[ch.conn];
      if (!c || c.generation !== ch.generation) {
        this.opts.log(`net: output for connection ${ch.conn} (generation ${ch.generation}), which is not open here; dropped`);
        continue;
      }
      if (ch.bytes.length > 0 && !c.dead) c.backlog.write(ch.bytes);
      if (ch.close) {
        if (!c.dead) c.backlog.end();
        this.clients[ch.conn] = undefined;
        this.inbox.guestClosed(ch.conn);
      }
    }
  }

  /** Resumes reading from sockets whose waiting input the guest has taken. */
  poll(): void {
    for (let id = 0; id < this.clients.length; id++) {
      const c = this.clients[id];
      if (c?.paused && !c.dead && this.inbox.queuedBytes(id) < this.pauseBytes / 2) {
        c.paused = false;
        if (!c.backlog.slow) c.socket.resume();
      }
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients) c?.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(s: Socket): void {
    const peer = `${s.remoteAddress}:${s.remotePort}`;
    const id = this.inbox.open();
    if (id === undefined) {
      this.opts.log(`net: refused ${peer}: all ${this.inbox.connsMax} connection ids are in use`);
      s.destroy();
      return;
    }
    const mine = () => this.clients[id] === c && !c.dead;
    const backlog = new ReplyBacklog(s, {
      slowed: () => {
        if (!mine()) return;
        this.inbox.hold(id, true);
        s.pause();
      },
      resumed: () => {
        if (!mine()) return;
        this.inbox.hold(id, false);
        if (!c.paused) s.resume();
        this.onActivity();
      },
      disconnect: (why) => {
        this.opts.log(`net: ${peer} (connection ${id}) ${why}; disconnected`);
        // A connection the guest already closed has nothing left to tell the guest.
        if (mine()) this.kill(id, c);
        else s.destroy();
      },
    });
    const c: Client = { socket: s, peer, generation: ++this.generations[id], dead: false, paused: false, backlog };
    this.clients[id] = c;
    s.setNoDelay(true);
    s.on("data", (chunk: Buffer) => {
      if (!mine()) return;
      if (!this.inbox.data(id, new Uint8Array(chunk))) {
        this.opts.log(`net: ${peer} (connection ${id}) sent more than ${this.inbox.connBytesMax} bytes the guest has not read; disconnected`);
        this.kill(id, c);
      } else if (this.inbox.queuedBytes(id) >= this.pauseBytes) {
        c.paused = true;
        s.pause();
      }
      this.onActivity();
    });
    // The peer finished sending; the socket stays writable (half-open) for the replies.
    const ended = () => {
      if (!mine()) return;
      this.inbox.end(id);
      this.onActivity();
    };
    s.on("end", ended);
    s.on("close", ended);
    s.on("error", () => {
      if (!mine()) return;
      c.dead = true;
      this.inbox.abort(id);
      this.onActivity();
    });
  }

  private kill(id: number, c: Client): void {
    c.dead = true;
    c.backlog.stop();
    c.socket.destroy();
    this.inbox.abort(id);
    this.onActivity();
  }
}
