// What a host's one-thread design costs a busy pair, measured: the round trip of a small
// WebSocket message between two processes that are both computing flat out, as an FT
// pair running a busy guest is, with the computing done
//   inline  on the event loop's own thread, in 0.5 ms slices with a turn of the event loop
//           between them (what src/host/ft-host.ts does with the guest today), or
//   worker  on a worker_threads thread, the event loop's thread left asleep until a
//           message comes (the design issue 11 point 1 names),
// with N more busy processes beside them (the machine's other work; default 1, which is
// what the launcher's console sink and a standby's start-up add on a 2-core machine).
// Rounds alternate the two designs so drifting load hits both alike.
//
//   npx tsx tools/bench/io-thread.ts [--rounds 3] [--busy 1] [--messages 400]
//
// The finding it was written for (18:30 UTC, load average 12-16 from other work, this
// 2-core machine, a high-priority autogroup): with one more busy process the inline round
// trip was p50 1.1-3.1 ms and p90 8 ms, the worker's p50 0.22-0.26 ms and p90 0.5-0.7 ms.
// A thread that sleeps is woken at once by the scheduler when its message arrives; a
// thread that is always runnable waits for its turn on a CPU behind the others.
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import WebSocket, { WebSocketServer } from "ws";
import { benchHelp } from "./help.js";

benchHelp(import.meta.url, { takesArgs: true });

type Mode = "inline" | "worker";

const SLICE_MS = 0.5;
const GAP_MS = 5;
const ROUNDS_MAX = 50;
const MESSAGES_MAX = 100_000;
const BUSY_MAX = 16;

/** Integer work the optimiser cannot drop (its result is looked at). */
const BUSY_WORKER = `
const { parentPort } = require("node:worker_threads");
let x = 1;
for (;;) { for (let i = 0; i < 1e6; i++) x = (x * 31 + i) | 0; if (x === 42) parentPort.postMessage(x); }
`;

let sink = 0;
function startBusy(mode: Mode): () => void {
  if (mode === "worker") {
    const w = new Worker(BUSY_WORKER, { eval: true });
    return () => void w.terminate();
  }
  let stopped = false;
  const slice = () => {
    if (stopped) return;
    const t = performance.now();
    let x = 1;
    while (performance.now() - t < SLICE_MS) for (let i = 0; i < 1000; i++) x = (x * 31 + i) | 0;
    sink ^= x;
    setImmediate(slice);
  };
  setImmediate(slice);
  return () => (stopped = true);
}

function arg(name: string, dflt: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0 || v > max) {
    console.error(`bench:io-thread: --${name} takes an integer from 0 to ${max}, got ${process.argv[i + 1]}`);
    process.exit(2);
  }
  return v;
}

async function echoSide(mode: Mode): Promise<void> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  wss.on("listening", () => process.stdout.write(`${(wss.address() as { port: number }).port}\n`));
  wss.on("connection", (ws) => ws.on("message", (d) => ws.send(d as Buffer)));
  startBusy(mode);
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

async function round(mode: Mode, messages: number): Promise<number[]> {
  const self = fileURLToPath(import.meta.url);
  const echo = spawn(process.execPath, ["--import", "tsx", self, "--echo", mode], { stdio: ["pipe", "pipe", "inherit"] });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      echo.stdout!.once("data", (d: Buffer) => resolve(String(d).trim()));
      echo.once("exit", (c) => reject(new Error(`the echo process exited (${c})`)));
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const stop = startBusy(mode);
    const msg = Buffer.alloc(60, 7);
    const rtts: number[] = [];
    for (let i = 0; i < messages; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        ws.once("message", () => resolve());
        ws.send(msg);
      });
      rtts.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, GAP_MS));
    }
    stop();
    ws.close();
    return rtts.sort((a, b) => a - b);
  } finally {
    echo.stdin!.end();
  }
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function main(): Promise<void> {
  const echoAt = process.argv.indexOf("--echo");
  if (echoAt >= 0) return echoSide(process.argv[echoAt + 1] as Mode);
  const rounds = arg("rounds", 3, ROUNDS_MAX);
  const busy = arg("busy", 1, BUSY_MAX);
  const messages = arg("messages", 400, MESSAGES_MAX);
  const burners: ChildProcess[] = [];
  for (let i = 0; i < busy; i++) burners.push(spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
  console.log(`round trip of a 60-byte WebSocket message between two busy processes, ${busy} more busy process(es) beside; ${messages} messages ${GAP_MS} ms apart per round`);
  const p50: Record<Mode, number[]> = { inline: [], worker: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of (r % 2 === 0 ? ["inline", "worker"] : ["worker", "inline"]) as Mode[]) {
        const xs = await round(mode, messages);
        p50[mode].push(q(xs, 0.5));
        console.log(`  round ${r + 1} ${mode.padEnd(6)}  p50 ${q(xs, 0.5).toFixed(2)} ms  p90 ${q(xs, 0.9).toFixed(2)} ms  p99 ${q(xs, 0.99).toFixed(2)} ms`);
      }
    }
  } finally {
    for (const b of burners) b.kill("SIGKILL");
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`median p50: inline ${med(p50.inline).toFixed(2)} ms, worker ${med(p50.worker).toFixed(2)} ms; inline / worker ${(med(p50.inline) / med(p50.worker)).toFixed(1)}x`);
  if (sink === 0.5) console.log(sink);
}

await main();
