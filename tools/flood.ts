// Junk at channel ports, as an attacker without the secret would send it:
//
//   npx tsx tools/flood.ts [--rounds N] HOST:PORT...
//
// At every port, in each round and all at once: WebSocket peers that skip the handshake
// and send 15 MB frames ("big"); peers that upgrade and then say nothing ("silent", more
// of them than a server keeps waiting); raw random bytes instead of HTTP ("garbage-tcp");
// random bytes after a good upgrade ("garbage-ws"); HTTP headers that never finish
// ("slow-http"). It prints, per kind, how many sockets the server closed and the slowest
// close after the junk was sent, as one JSON line (tests read it). It never authenticates.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

export interface FloodKindResult {
  sockets: number;
  /** Closed by the server (or its refusal) before the flood gave up on them. */
  closed: number;
  /** The slowest of those closes, in ms after the junk went out. */
  closeMsMax: number;
}

const BIG_FRAME_BYTES = 15 * 1000 * 1000;
/** How long the flood waits for a server to close a junk socket before it counts it as held open. */
const GIVE_UP_MS = 60_000;

/** Resolves with ms from `t0` to the socket's close, or -1 when it is still open after GIVE_UP_MS. */
function closedAfter(s: Socket, t0: () => number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(-1);
      s.destroy();
    }, GIVE_UP_MS);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - t0());
    });
    s.on("error", () => undefined);
    // Whatever the server says (a challenge, a 426, a close frame) is read and ignored.
    s.on("data", () => undefined);
  });
}

function summarize(times: number[]): FloodKindResult {
  const closed = times.filter((t) => t >= 0);
  return { sockets: times.length, closed: closed.length, closeMsMax: closed.length ? Math.max(...closed) : 0 };
}

/**
 * A WebSocket upgrade by hand (the ws client would mask every payload byte, and the
 * flood would measure its own CPU instead of the server): then `junk` goes out raw.
 */
function upgraded(host: string, port: number, junk: (s: Socket) => void): Promise<number> {
  const s = connect(port, host);
  let t0 = Date.now();
  let head = "";
  const onHead = (d: Buffer) => {
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n")) return;
    s.off("data", onHead);
    t0 = Date.now();
    if (head.startsWith("HTTP/1.1 101")) junk(s);
  };
  s.on("data", onHead);
  s.on("connect", () => {
    const key = randomBytes(16).toString("base64");
    s.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  return closedAfter(s, () => t0);
}

/** A masked binary frame header announcing BIG_FRAME_BYTES (mask key 0, so the payload goes as is). */
const BIG_HEADER = (() => {
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(BIG_FRAME_BYTES), 2);
  return h;
})();
const BIG_PAYLOAD = Buffer.alloc(BIG_FRAME_BYTES, 0x5a);

const big = (host: string, port: number) =>
  upgraded(host, port, (s) => {
    s.write(BIG_HEADER);
    s.write(BIG_PAYLOAD);
  });

const silent = (host: string, port: number) => upgraded(host, port, () => undefined);

const garbageWs = (host: string, port: number) => upgraded(host, port, (s) => s.write(randomBytes(32 * 1024)));

function garbageTcp(host: string, port: number): Promise<number> {
  const s = connect(port, host);
  let t0 = Date.now();
  s.on("connect", () => {
    t0 = Date.now();
    s.write(randomBytes(64 * 1024));
  });
  return closedAfter(s, () => t0);
}

function slowHttp(host: string, port: number): Promise<number> {
  const s = connect(port, host);
  let t0 = Date.now();
  s.on("connect", () => {
    t0 = Date.now();
    s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n`);
  });
  return closedAfter(s, () => t0);
}

export const FLOOD_KINDS = { big: [big, 20], silent: [silent, 150], "garbage-tcp": [garbageTcp, 30], "garbage-ws": [garbageWs, 30], "slow-http": [slowHttp, 20] } as const;

export async function flood(targets: { host: string; port: number }[], rounds = 1): Promise<Record<string, FloodKindResult>> {
  const times = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    const all: Promise<void>[] = [];
    for (const [kind, [f, n]] of Object.entries(FLOOD_KINDS))
      for (const t of targets)
        for (let i = 0; i < n; i++)
          all.push(
            f(t.host, t.port).then((ms) => {
              times.set(kind, [...(times.get(kind) ?? []), ms]);
            }),
          );
    await Promise.all(all);
  }
  return Object.fromEntries([...times].map(([k, v]) => [k, summarize(v)]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  let rounds = 1;
  const targets: { host: string; port: number }[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--rounds") rounds = Number(args[++i]);
    else {
      const m = /^(?:ws:\/\/)?([^:/]+):(\d+)\/?$/.exec(args[i]);
      if (!m) {
        process.stderr.write(`usage: tsx tools/flood.ts [--rounds N] HOST:PORT...\n`);
        process.exit(2);
      }
      targets.push({ host: m[1], port: Number(m[2]) });
    }
  }
  const result = await flood(targets, rounds);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}
