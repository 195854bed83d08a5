// The peer the FT log channel's round trip is measured against, in the same run: a bare
// WebSocket (ws + msgpackr, as src/transport/channel.ts uses them, without ftvm's
// authentication or protocol) between this process and an echo process of its own on
// loopback, one small message at a time with a pause between them, like the log batches
// of an idle guest. Both processes sleep between messages, as the FT hosts do, so the
// figure includes waking them.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";
import WebSocket from "ws";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: false });

const ECHO = `
import { WebSocketServer } from "ws";
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
wss.on("listening", () => process.stdout.write(String(wss.address().port) + "\\n"));
wss.on("connection", (ws) => ws.on("message", (d) => ws.send(d)));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

// The floor under that: the same exchange over a bare TCP socket (no WebSocket framing, no
// msgpack), which is what two Node processes on this machine cannot beat without leaving
// Node's event loop. An echo of raw bytes: a 60-byte message fits one segment, so every
// read on either side is the whole message.
const TCP_ECHO = `
import { createServer } from "node:net";
const srv = createServer((s) => { s.setNoDelay(true); s.on("data", (d) => s.write(d)); });
srv.listen(0, "127.0.0.1", () => process.stdout.write(String(srv.address().port) + "\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** The bytes each peer exchanges: about an idle guest's log batch. */
const PEER_MESSAGE_BYTES = 60;

/** Starts an echo process from `source` (it prints its port) and returns the port and how to stop it. */
async function startEcho(source: string, cwd: string): Promise<{ port: number; stop(): void }> {
  const echo = spawn(process.execPath, ["--input-type=module", "-e", source], { cwd, stdio: ["pipe", "pipe", "inherit"] });
  const stop = () => echo.stdin.end();
  try {
    const port = await new Promise<number>((resolve, reject) => {
      echo.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
      echo.once("exit", (code) => reject(new Error(`the echo process exited (${code})`)));
    });
    return { port, stop };
  } catch (e) {
    stop();
    throw e;
  }
}

/** `count` round trips made by `once` (send one message, resolve on its answer), `gapMs` apart: p50 and p99 in ms. */
async function roundTrips(count: number, gapMs: number, once: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  const rtts: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await once();
    rtts.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  rtts.sort((a, b) => a - b);
  return { p50: rtts[Math.floor(rtts.length / 2)], p99: rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * 0.99))] };
}

/** Round trips (ms) of `count` messages sent `gapMs` apart over bare TCP to an echo process. */
export async function tcpPeerRttMs(count: number, gapMs: number, cwd: string): Promise<{ p50: number; p99: number }> {
  const echo = await startEcho(TCP_ECHO, cwd);
  try {
    const s = connect(echo.port, "127.0.0.1");
    s.setNoDelay(true);
    await new Promise((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    const msg = Buffer.alloc(PEER_MESSAGE_BYTES, 7);
    const r = await roundTrips(count, gapMs, () =>
      new Promise<void>((resolve) => {
        let got = 0;
        const onData = (d: Buffer) => {
          got += d.length;
          if (got < msg.length) return;
          s.off("data", onData);
          resolve();
        };
        s.on("data", onData);
        s.write(msg);
      }),
    );
    s.destroy();
    return r;
  } finally {
    echo.stop();
  }
}

/** Round trips (ms) of `count` messages sent `gapMs` apart to an echo process. */
export async function wsPeerRttMs(count: number, gapMs: number, cwd: string): Promise<{ p50: number; p99: number }> {
  const echo = await startEcho(ECHO, cwd);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${echo.port}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    // About the size of an idle guest's log batch (one timer event and a PROGRESS mark).
    const msg = packr.pack({ t: "log", events: [[1, 123456, 16, 1234567], [2, 123456, 1, null]], released: 0 });
    const r = await roundTrips(count, gapMs, () =>
      new Promise<void>((resolve) => {
        ws.once("message", () => resolve());
        ws.send(msg);
      }),
    );
    ws.close();
    return r;
  } finally {
    echo.stop();
  }
}
