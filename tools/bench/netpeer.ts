// Both ends of the bulk-transfer benchmark (tools/bench/net.ts) outside the guest: the
// client that streams bytes into a server or takes a stream out of it, and a native Node
// server speaking the same protocol as programs/netsink.s and programs/netsource.s (the
// physical reference). The protocol, per connection:
//   receive (into the server):  the client sends N bytes and finishes sending; the server
//                               answers N in decimal and a newline, and closes;
//   transmit (out of it):       the client asks for bytes with lines of a decimal count and
//                               a newline, a window at a time (WINDOW_BYTES ahead of what
//                               arrived, as TCP's window paces a sender: the hosts do not
//                               hold a guest back for a slow reader), and finishes sending
//                               when it has asked for N; the server sends what was asked and
//                               closes once it has sent it all and the client has finished.
// Run as a program, it is one client run printing JSON, or a server:
//   tsx tools/bench/netpeer.ts receive|transmit PORT BYTES [STREAMS]
//   tsx tools/bench/netpeer.ts serve PORT_SINK PORT_SOURCE
import { type Socket, connect, createServer } from "node:net";

/** One write: large enough to keep a socket busy, small enough to pace by back-pressure. */
const WRITE_BYTES = 64 * 1024;
/** A transfer that takes longer than this has stalled: fail it rather than hang the run. */
const TRANSFER_TIMEOUT_MS = 300_000;
/** Transmit: bytes asked for beyond what arrived (well under the hosts' 16 MiB of unread replies). */
export const WINDOW_BYTES = 4 * 1024 * 1024;
/** Transmit: the client asks for more once this much of the window has arrived. */
const ASK_BYTES = 1024 * 1024;

export interface Transfer {
  /** Bytes the client sent (receive) or asked for (transmit), summed over the streams. */
  bytes: number;
  /** Bytes the far end counted (receive: the servers' answers; transmit: what arrived here). */
  counted: number;
  /** From the first connect to the last stream's end. */
  ms: number;
  mbitPerSec: number;
  /** CPU time this client process used (user + system) during the transfer. */
  clientCpuMs: number;
}

const payload = Buffer.alloc(WRITE_BYTES, "y");

/** Streams `bytes` into the server on `port` and reads back its count. */
function receiveOne(port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    let answer = "";
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, WRITE_BYTES);
        left -= n;
        if (!s.write(n === WRITE_BYTES ? payload : payload.subarray(0, n))) return void s.once("drain", pump);
      }
      s.end();
    };
    s.on("connect", pump);
    s.setEncoding("latin1");
    s.on("data", (d: string) => (answer += d));
    guard(s, reject, () => {
      const n = Number(answer.trim());
      if (!/^\d+\n$/.test(answer) || !Number.isSafeInteger(n)) return reject(new Error(`receive: the server answered ${JSON.stringify(answer.slice(0, 80))}`));
      resolve(n);
    });
  });
}

/** Asks the server on `port` for `bytes` and counts what arrives until it closes. */
function transmitOne(port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    let got = 0;
    let asked = 0;
    const ask = () => {
      if (asked >= bytes || asked - got > WINDOW_BYTES - ASK_BYTES) return;
      const n = Math.min(bytes - asked, got + WINDOW_BYTES - asked);
      asked += n;
      s.write(`${n}\n`);
      if (asked === bytes) s.end();
    };
    s.on("connect", () => (bytes === 0 ? s.end() : ask()));
    s.on("data", (d: Buffer) => {
      got += d.length;
      ask();
    });
    guard(s, reject, () => resolve(got));
  });
}

function guard(s: Socket, reject: (e: Error) => void, onEnd: () => void): void {
  const timer = setTimeout(() => s.destroy(new Error(`no end after ${TRANSFER_TIMEOUT_MS} ms`)), TRANSFER_TIMEOUT_MS);
  s.on("error", (e) => {
    clearTimeout(timer);
    reject(e);
  });
  s.on("end", () => {
    clearTimeout(timer);
    onEnd();
  });
}

/** `streams` connections side by side, `bytes` in all (split evenly). */
export async function transfer(kind: "receive" | "transmit", port: number, bytes: number, streams = 1): Promise<Transfer> {
  const each = Math.floor(bytes / streams);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const one = kind === "receive" ? receiveOne : transmitOne;
  const counts = await Promise.all(Array.from({ length: streams }, () => one(port, each)));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const total = each * streams;
  return { bytes: total, counted: counts.reduce((a, b) => a + b, 0), ms, mbitPerSec: (total * 8) / ms / 1000, clientCpuMs: (cpu.user + cpu.system) / 1000 };
}

/** The native servers: a sink and a source speaking netsink.s's and netsource.s's protocol. */
export async function serveNative(sinkPort: number, sourcePort: number): Promise<{ sinkPort: number; sourcePort: number; close(): Promise<void> }> {
  const sink = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on("data", (d: Buffer) => (n += d.length));
    s.on("end", () => s.end(`${n}\n`));
    s.on("error", () => s.destroy());
  });
  const source = createServer({ allowHalfOpen: true }, (s) => {
    let line = "";
    let left = 0;
    let peerDone = false;
    let blocked = false;
    s.setEncoding("latin1");
    s.on("error", () => s.destroy());
    const pump = () => {
      blocked = false;
      while (left > 0) {
        const n = Math.min(left, WRITE_BYTES);
        left -= n;
        if (!s.write(n === WRITE_BYTES ? payload : payload.subarray(0, n))) {
          blocked = true;
          return void s.once("drain", pump);
        }
      }
      if (peerDone) s.end();
    };
    s.on("data", (d: string) => {
      line += d;
      const lines = line.split("\n");
      line = lines.pop() ?? "";
      for (const l of lines) left += Number.parseInt(l, 10) || 0;
      if (!blocked) pump();
    });
    s.on("end", () => {
      peerDone = true;
      if (!blocked) pump();
    });
  });
  const listenOn = (srv: typeof sink, port: number) =>
    new Promise<number>((resolve) => srv.listen(port, "127.0.0.1", () => resolve((srv.address() as { port: number }).port)));
  const ports = { sinkPort: await listenOn(sink, sinkPort), sourcePort: await listenOn(source, sourcePort) };
  return {
    ...ports,
    close: async () => {
      await Promise.all([sink, source].map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("netpeer.ts")) {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === "serve") {
    const s = await serveNative(Number(a), Number(b));
    process.stdout.write(`listening ${s.sinkPort} ${s.sourcePort}\n`);
  } else if (mode === "receive" || mode === "transmit") {
    try {
      process.stdout.write(JSON.stringify(await transfer(mode, Number(a), Number(b), Number(c ?? 1))) + "\n");
    } catch (e) {
      process.stdout.write(JSON.stringify({ error: (e as Error).message }) + "\n");
      process.exitCode = 1;
    }
  } else {
    process.stderr.write("usage: tsx tools/bench/netpeer.ts receive|transmit PORT BYTES [STREAMS] | serve PORT_SINK PORT_SOURCE\n");
    process.exitCode = 2;
  }
}
