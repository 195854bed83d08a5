// The guest Redis server (programs/redis.s) served by `ftvm run --listen` in a child
// process, driven by real clients: the `redis` npm client (node-redis 4), raw sockets,
// redis-cli and redis-benchmark (Debian's redis-tools). Replies are compared with what a
// real Redis 7 answers; when redis-server is installed the same script runs against it too.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assemble, assembleFile } from "../src/asm/assembler.js";
import { LIB_DIR } from "../src/asm/include.js";
import { Bus } from "../src/devices/bus.js";
import { attachEngine } from "../src/host/engine.js";
import { LiveEnv } from "../src/replay/live.js";
import { NetInbox } from "../src/net/inbox.js";
import { LiveRunner } from "../src/replay/session.js";
import { fakeWorld } from "../src/replay/world.js";
import { Machine } from "../src/vm/machine.js";

const te = new TextEncoder();

import { type GuestProcess, ROOT, startGuestProcess } from "./support/guest-process.js";
import { ftvmArgs } from "./support/ftvm-args.js";

function which(cmd: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const REDIS_CLI = which("redis-cli");
const REDIS_BENCHMARK = which("redis-benchmark");
const REDIS_SERVER = which("redis-server");

type Server = GuestProcess;

function startGuest(command: "run" | "record" = "run", extra: string[] = []): Promise<Server> {
  return startGuestProcess(command, "programs/redis.s", ["--mem", "16MiB", "--no-stdin", ...extra]);
}

/** A free port for the real redis-server (which cannot report a port 0 back); the guest processes listen on port 0 instead. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function client(port: number) {
  const errors: Error[] = [];
  const c = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false } });
  c.on("error", (e: Error) => errors.push(e));
  await c.connect();
  return { c, errors };
}

/** Sends raw bytes, collects what comes back until `done(received)` or the socket closes. */
async function raw(port: number, bytes: string, done: (s: string) => boolean): Promise<{ text: string; closed: boolean }> {
  const s: Socket = connect(port, "127.0.0.1");
  let text = "";
  let closed = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no complete answer; got ${JSON.stringify(text.slice(0, 300))}`)), 20_000);
    s.on("error", reject);
    s.on("data", (d) => {
      text += d.toString("latin1");
      if (done(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    s.on("close", () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
    s.on("connect", () => s.write(bytes));
  });
  // A server that closes after an answer: give the close a moment to arrive.
  if (!closed) await new Promise((r) => setTimeout(r, 100));
  s.destroy();
  return { text, closed };
}

/** A command script and what Redis 7.0 answers to it (checked against a real redis-server). */
const SCRIPT: [string[], string][] = [
  [["DBSIZE"], "0"],
  [["GET", "missing"], "null"],
  [["SET", "a", "hello world"], "OK"],
  [["GET", "a"], "hello world"],
  [["SET", "a", "x".repeat(3000)], "OK"],
  [["GET", "a"], "x".repeat(3000)],
  [["SET", "a", "short"], "OK"],
  [["GET", "a"], "short"],
  [["EXISTS", "a", "a", "missing"], "2"],
  [["SET", "n", "41"], "OK"],
  [["INCR", "n"], "42"],
  [["DECR", "n"], "41"],
  [["INCRBY", "n", "-50"], "-9"],
  [["INCRBY", "fresh", "7"], "7"],
  [["DECR", "neg"], "-1"],
  [["INCR", "a"], "ERR value is not an integer or out of range"],
  [["INCRBY", "n", "1x"], "ERR value is not an integer or out of range"],
  [["INCRBY", "n", "+1"], "ERR value is not an integer or out of range"],
  [["SET", "z", "007"], "OK"],
  [["INCR", "z"], "ERR value is not an integer or out of range"],
  [["SET", "e", ""], "OK"],
  [["GET", "e"], ""],
  [["INCR", "e"], "ERR value is not an integer or out of range"],
  [["DBSIZE"], "6"],
  [["DEL", "a", "n", "missing", "a"], "2"],
  [["EXISTS", "a"], "0"],
  [["DBSIZE"], "4"],
  [["GET"], "ERR wrong number of arguments for 'get' command"],
  [["set", "onlykey"], "ERR wrong number of arguments for 'set' command"],
  [["SET", "k", "v", "EXTRA"], "ERR syntax error"],
  [["DBSIZE", "x"], "ERR wrong number of arguments for 'dbsize' command"],
  [["NOPE", "x", "y"], "ERR unknown command 'NOPE', with args beginning with: 'x' 'y' "],
  [["PING"], "PONG"],
  [["PING", "hi"], "hi"],
  [["PING", "a", "b"], "ERR wrong number of arguments for 'ping' command"],
  [["ECHO", "bin\u0000ary"], "bin\u0000ary"],
  [["incr", "CaSe"], "1"],
  [["GET", "case"], "null"],
];

/** 64-bit counters, checked on the wire (node-redis turns integer replies into JS numbers). */
const WIDE: [string, string][] = [
  ["SET w:c 2147483647", "+OK"],
  ["INCR w:c", ":2147483648"],
  ["INCRBY w:c -4294967296", ":-2147483648"],
  ["DECR w:c", ":-2147483649"],
  ["SET w:big 9223372036854775806", "+OK"],
  ["INCR w:big", ":9223372036854775807"],
  ["INCR w:big", "-ERR increment or decrement would overflow"],
  ["GET w:big", "$19\r\n9223372036854775807"],
  ["INCRBY w:neg -9223372036854775808", ":-9223372036854775808"],
  ["DECR w:neg", "-ERR increment or decrement would overflow"],
  ["INCRBY w:neg 9223372036854775807", ":-1"],
  ["INCRBY w:x 9223372036854775808", "-ERR value is not an integer or out of range"],
  ["INCRBY w:x -9223372036854775809", "-ERR value is not an integer or out of range"],
  ["INCRBY w:x 99999999999999999999", "-ERR value is not an integer or out of range"],
  ["INCRBY w:q 1000000000000", ":1000000000000"],
  ["INCRBY w:q -1000000000002", ":-2"],
  ["SET w:t 12345678901234567", "+OK"],
  ["INCRBY w:t 1", ":12345678901234568"],
];

async function runWide(port: number): Promise<string> {
  const want = WIDE.map(([, r]) => r + "\r\n").join("");
  return (await raw(port, WIDE.map(([c]) => c + "\r\n").join(""), (t) => t.length >= want.length)).text;
}

async function runScript(port: number): Promise<string[]> {
  const { c, errors } = await client(port);
  const out: string[] = [];
  for (const [cmd] of SCRIPT) {
    try {
      const r = await c.sendCommand(cmd);
      out.push(r === null ? "null" : String(r));
    } catch (e) {
      out.push((e as Error).message);
    }
  }
  await c.quit();
  expect(errors).toEqual([]);
  return out;
}

describe("redis.s answers as Redis does", () => {
  it("SET/GET/DEL/EXISTS/INCR/DECR/INCRBY/DBSIZE/PING/ECHO and their errors (node-redis), 64-bit counters (raw)", async () => {
    const guest = await startGuest();
    try {
      const got = await runScript(guest.port);
      expect(got).toEqual(SCRIPT.map(([, want]) => want));
      expect(await runWide(guest.port)).toBe(WIDE.map(([, r]) => r + "\r\n").join(""));
    } finally {
      await guest.stop();
    }
  });

  it.skipIf(!REDIS_SERVER)("real redis-server gives the same replies to the same script", async () => {
    // redis-server cannot listen on a port the kernel picks and say which (its --port 0
    // turns TCP off), so this one test picks a free port first; ftvm's own servers listen
    // on port 0 and report theirs.
    const port = await freePort();
    const real = spawn(REDIS_SERVER!, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((r) => connect(port, "127.0.0.1").on("connect", function (this: Socket) { this.destroy(); r(true); }).on("error", () => r(false)));
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await runScript(port)).toEqual(SCRIPT.map(([, want]) => want));
      expect(await runWide(port)).toBe(WIDE.map(([, r]) => r + "\r\n").join(""));
    } finally {
      real.kill("SIGKILL");
    }
  });
});

describe("redis.s with many clients", () => {
  let guest: Server;
  beforeAll(async () => {
    guest = await startGuest();
  });
  afterAll(async () => {
    await guest?.stop();
  });

  it("many concurrent clients INCR shared counters: every reply is unique and the final value is the number of increments", async () => {
    const clients = await Promise.all(Array.from({ length: 24 }, () => client(guest.port)));
    const perClient = 40;
    const replies: Record<string, number[]> = { "ctr:a": [], "ctr:b": [] };
    await Promise.all(
      clients.map(async ({ c }, k) => {
        for (let i = 0; i < perClient; i++) {
          const key = (i + k) % 2 === 0 ? "ctr:a" : "ctr:b";
          replies[key].push(await c.incr(key));
        }
      }),
    );
    const { c } = clients[0];
    for (const key of Object.keys(replies)) {
      const got = replies[key];
      expect(new Set(got).size).toBe(got.length);
      expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
      expect(Number(await c.get(key))).toBe(got.length);
    }
    expect(replies["ctr:a"].length + replies["ctr:b"].length).toBe(24 * perClient);
    for (const { c: x, errors } of clients) {
      await x.quit();
      expect(errors).toEqual([]);
    }
  });

  it("answers a pipeline of many commands sent in one write, in order", async () => {
    const n = 1000;
    const cmds = Array.from({ length: n }, (_, i) => (i % 10 === 9 ? "GET pipe\r\n" : "*2\r\n$4\r\nINCR\r\n$4\r\npipe\r\n")).join("");
    const { text } = await raw(guest.port, cmds, (s) => s.split("\r\n").length > n + n / 10);
    const expected: string[] = [];
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (i % 10 === 9) expected.push(`$${String(v).length}`, String(v));
      else expected.push(`:${++v}`);
    }
    expect(text).toBe(expected.join("\r\n") + "\r\n");
  });

  it("node-redis pipelines commands issued together (auto-pipelining) and gets each reply", async () => {
    const { c, errors } = await client(guest.port);
    const keys = Array.from({ length: 300 }, (_, i) => `pk${i}`);
    expect(await Promise.all(keys.map((k, i) => c.set(k, `v${i}`)))).toEqual(keys.map(() => "OK"));
    expect(await Promise.all(keys.map((k) => c.get(k)))).toEqual(keys.map((_, i) => `v${i}`));
    expect(await c.del(keys)).toBe(keys.length);
    await c.quit();
    expect(errors).toEqual([]);
  });

  it("replies to a protocol error in Redis's words and closes the connection; other clients go on", async () => {
    const r1 = await raw(guest.port, "*1\r\n:1\r\n", () => false);
    expect(r1).toEqual({ text: "-ERR Protocol error: expected '$', got ':'\r\n", closed: true });
    const r2 = await raw(guest.port, "*x\r\n", () => false);
    expect(r2).toEqual({ text: "-ERR Protocol error: invalid multibulk length\r\n", closed: true });
    const r3 = await raw(guest.port, "PING\r\n*1\r\n$-3\r\n", () => false);
    expect(r3).toEqual({ text: "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n", closed: true });
    const big = await raw(guest.port, `SET big ${"x".repeat(40_000)}\r\n`, () => false);
    expect(big.text).toMatch(/^-ERR Protocol error: request too big/);
    expect(big.closed).toBe(true);
    const ok = await raw(guest.port, "ECHO still-here\r\n", (s) => s.endsWith("still-here\r\n"));
    expect(ok.text).toBe("$10\r\nstill-here\r\n");
  });

  it("survives clients that vanish mid-command or reset the connection", async () => {
    for (let i = 0; i < 10; i++) {
      const s = connect(guest.port, "127.0.0.1");
      s.on("error", () => undefined);
      await new Promise<void>((r) => s.on("connect", () => r()));
      s.write(i % 2 ? "*3\r\n$3\r\nSET\r\n$1\r\n" : "INCR vanish\r\nGET");
      await new Promise((r) => setTimeout(r, 10));
      if (i % 2) s.resetAndDestroy();
      else s.destroy();
    }
    const ok = await raw(guest.port, "EXISTS vanish\r\n", (t) => t.endsWith("\r\n"));
    expect(ok.text).toBe(":1\r\n");
  });

  it.skipIf(!REDIS_CLI)("redis-cli: commands, errors and piped input", () => {
    const cli = (args: string[], input?: string) => spawnSync(REDIS_CLI!, ["-h", "127.0.0.1", "-p", String(guest.port), ...args], { encoding: "utf8", input, timeout: 20_000 });
    expect(cli(["SET", "cli", "5"]).stdout).toBe("OK\n");
    expect(cli(["INCRBY", "cli", "3"]).stdout).toBe("8\n");
    expect(cli(["GET", "cli"]).stdout).toBe("8\n");
    expect(cli(["EXISTS", "cli", "nope"]).stdout).toBe("1\n");
    expect(cli(["GET", "nope"]).stdout).toBe("\n");
    expect(cli(["INCR", "nope-int-" + "x"]).stdout).toBe("1\n");
    expect(cli(["NOPE"]).stdout).toMatch(/^ERR unknown command 'NOPE', with args beginning with: \n/);
    const piped = cli([], "SET p 1\nINCR p\nGET p\nPING\n");
    expect(piped.stdout).toBe("OK\n2\n2\nPONG\n");
  });

  it.skipIf(!REDIS_BENCHMARK)("redis-benchmark -t set,get,incr -n 2000 completes", () => {
    const r = spawnSync(REDIS_BENCHMARK!, ["-h", "127.0.0.1", "-p", String(guest.port), "-t", "set,get,incr", "-n", "2000", "-q"], { encoding: "utf8", timeout: 50_000 });
    expect(r.status).toBe(0);
    const lines = r.stdout.split(/[\r\n]/).filter((l) => /requests per second/.test(l) && !/rps=/.test(l));
    expect(lines.map((l) => l.trim().split(":")[0])).toEqual(["SET", "GET", "INCR"]);
    // Pipelined: 16 commands per write from each of its 50 clients.
    const p = spawnSync(REDIS_BENCHMARK!, ["-h", "127.0.0.1", "-p", String(guest.port), "-t", "incr", "-n", "4000", "-P", "16", "-q"], { encoding: "utf8", timeout: 50_000 });
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/INCR: [\d.]+ requests per second/);
  });

  it("reports when redis-cli or redis-benchmark is missing (those tests are skipped then)", () => {
    if (!REDIS_CLI || !REDIS_BENCHMARK) console.warn(`redis-tools not installed: redis-cli ${REDIS_CLI ?? "missing"}, redis-benchmark ${REDIS_BENCHMARK ?? "missing"} (apt-get install redis-tools)`);
    expect(guest.stderr()).not.toMatch(/Error|disconnected/);
  });
});

describe("redis.s when memory runs out", () => {
  it("answers -OOM when the heap is full (a 2 MB pipeline, read with back-pressure), and recovers after DEL", async () => {
    const guest = await startGuest("run", ["--mem", "6MiB"]);
    try {
      const value = "v".repeat(30_000);
      const n = 70;
      const cmds = Array.from({ length: n }, (_, i) => `SET k${i} ${value}\r\n`).join("") + "DBSIZE\r\n";
      const { text } = await raw(guest.port, cmds, (t) => /:\d+\r\n$/.test(t));
      const replies = text.split("\r\n").slice(0, -1);
      const ok = replies.filter((r) => r === "+OK").length;
      expect(ok).toBeGreaterThan(10);
      expect(ok).toBeLessThan(n);
      expect(replies.slice(0, ok).every((r) => r === "+OK")).toBe(true);
      expect(new Set(replies.slice(ok, n))).toEqual(new Set(["-OOM command not allowed when used memory > 'maxmemory'."]));
      expect(replies[n]).toBe(`:${ok}`);
      const again = await raw(guest.port, `DEL k0 k1\r\nSET k${n - 1} ${value}\r\nEXISTS k${n - 1}\r\n`, (t) => t.split("\r\n").length > 3);
      expect(again.text).toBe(":2\r\n+OK\r\n:1\r\n");
    } finally {
      expect(await guest.stop()).toBe(130);
    }
  });
});

describe("record → replay of a served run", () => {
  it("a port in use is a clear error, and no log file is left behind", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), "ftvm-redis-"));
    try {
      const log = join(dir, "x.ftlog");
      const r = spawnSync(process.execPath, [...ftvmArgs(), "record", "programs/redis.s", "--mem", "16MiB", "--listen", `127.0.0.1:${port}`, "--no-stdin", "-o", log], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}: .*EADDRINUSE`));
      expect(existsSync(log)).toBe(false);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a log recorded with --listen replays without a network and transmits the same bytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ftvm-redis-"));
    const log = join(dir, "redis.ftlog");
    try {
      const guest = await startGuest("record", ["-o", log]);
      // Raw clients, so every transmitted byte is known: 5 connections, each INCRs a shared
      // counter 20 times (one command per write, waiting for each reply) and then QUITs.
      const replies = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const s = connect(guest.port, "127.0.0.1");
          await new Promise<void>((r) => s.on("connect", () => r()));
          let text = "";
          for (let i = 0; i < 20; i++) {
            const before = text.length;
            s.write("INCR rec\r\n");
            await new Promise<void>((r) => {
              const on = (d: Buffer) => {
                text += d.toString("latin1");
                if (text.length > before && text.endsWith("\r\n")) {
                  s.off("data", on);
                  r();
                }
              };
              s.on("data", on);
            });
          }
          s.write("QUIT\r\n");
          await new Promise<void>((r) => {
            s.on("data", (d) => (text += d.toString("latin1")));
            s.on("close", () => r());
          });
          return text;
        }),
      );
      const all = replies.join("");
      const values = [...all.matchAll(/:(\d+)\r\n/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
      expect(values).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const sent = all.length;
      expect(sent).toBe(values.reduce((n, v) => n + String(v).length + 3, 0) + 5 * "+OK\r\n".length);
      await new Promise((r) => setTimeout(r, 200));
      expect(await guest.stop()).toBe(130);
      expect(existsSync(log)).toBe(true);
      const rep = spawnSync(process.execPath, [...ftvmArgs(), "replay", log], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
      expect(rep.stderr).toMatch(/replay matched the recording/);
      expect(rep.stderr).toContain(`the guest transmitted ${sent} network bytes and closed 5 connections`);
      expect(rep.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- the building blocks in programs/lib, called one routine at a time ----

describe("programs/lib: resp.s, hash.s, alloc.s, strbuf.s", () => {
  const image = assemble(
    `
    .include "resp.s"
    .include "hash.s"
    .data
    .align 4
    buf: .zero 4096
    sb:  .word 0, 64
         .zero 64
    .code
    main: HALT
    ${["resp_parse", "resp_str_int", "resp_str_int64", "sb_putint64", "sb_reset", "hash_bytes", "table_find", "table_put", "table_del", "table_value", "alloc", "free", "sb_putint", "resp_bulk", "resp_error"]
      .map((r) => `call_${r}: CALL ${r}\nHALT`)
      .join("\n")}`,
    "libtest.s",
    { includeDirs: [LIB_DIR] },
  );
  const sym = (n: string) => image.symbols.find((s) => s.name === n)!.value;
  const BUF = sym("buf");
  const SB = sym("sb");
  const te = new TextEncoder();
  const HEAP = 256 * 1024;
  const BUCKETS = 128 * 1024;

  /** A machine with the table (16 buckets) and a heap set up, as redis.s does at start. */
  function machine() {
    const m = new Machine(image, { memBytes: 1024 * 1024 });
    new Bus(m, undefined as never);
    const call = (routine: string, args: number[]) => {
      for (let r = 0; r < 15; r++) m.regs[r] = 0x5a5a0000 + r;
      args.forEach((v, i) => (m.regs[1 + i] = v));
      const sp = m.regs[15];
      m.halted = false;
      m.pc = sym(`call_${routine}`);
      for (let r; (r = m.run(m.icount + 10_000_000)) !== "halted"; ) if (r !== "continue") throw new Error(`${routine}: ${r} ${m.trap?.kind}`);
      for (let r = 7; r < 15; r++) expect(m.regs[r], `${routine} changed r${r}`).toBe(0x5a5a0000 + r);
      expect(m.regs[15], `${routine} moved sp`).toBe(sp);
      return [m.regs[1], m.regs[2], m.regs[3]];
    };
    const put = (s: string, at = BUF) => {
      const b = te.encode(s);
      m.mem.set(b, at);
      return [at, b.length];
    };
    // What table_init and alloc_init do, with 16 buckets so that chains are long.
    const tableInit = () => {
      m.mem32[sym("table_buckets") >> 2] = BUCKETS;
      m.mem32[sym("table_mask") >> 2] = 15;
      m.mem32[sym("table_count") >> 2] = 0;
      m.mem32[sym("alloc_next") >> 2] = HEAP;
      m.mem32[sym("alloc_end") >> 2] = 1024 * 1024 - 64 * 1024;
    };
    tableInit();
    return { m, call, put };
  }

  it("resp_parse: multibulk, inline, incomplete and malformed commands", () => {
    const { m, call, put } = machine();
    const args = () => {
      const n = m.mem32[sym("resp_argc") >> 2];
      return Array.from({ length: n }, (_, i) => {
        const a = m.mem32[(sym("resp_argv") >> 2) + i];
        const l = m.mem32[(sym("resp_argl") >> 2) + i];
        return new TextDecoder().decode(m.mem.subarray(a, a + l));
      });
    };
    const cmd = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv a\r\n\r\nrest";
    expect(call("resp_parse", put(cmd))[0]).toBe(cmd.length - 4);
    expect(args()).toEqual(["SET", "k", "v a\r\n"]);
    for (let cut = 0; cut < cmd.length - 4; cut++) expect(call("resp_parse", [BUF, cut])[0], `cut at ${cut}`).toBe(0);
    expect(call("resp_parse", put("  GET\t key  \r\nx"))[0]).toBe(14);
    expect(args()).toEqual(["GET", "key"]);
    expect(call("resp_parse", put("PING\n"))[0]).toBe(5);
    expect(args()).toEqual(["PING"]);
    expect(call("resp_parse", put("\r\n"))[0]).toBe(2);
    expect(args()).toEqual([]);
    expect(call("resp_parse", put("*0\r\n"))[0]).toBe(4);
    expect(args()).toEqual([]);
    expect(call("resp_parse", put("*x\r\n"))[0]).toBe(-1);
    expect(call("resp_parse", put("*1025\r\n"))[0]).toBe(-1);
    expect(call("resp_parse", put("*1\r\n$-1\r\n"))[0]).toBe(-2);
    expect(call("resp_parse", put("*1\r\n$2000000\r\n"))[0]).toBe(-2);
    expect(call("resp_parse", put("*1\r\n:1\r\n"))[0]).toBe(-3);
    expect(m.mem32[sym("resp_bad") >> 2]).toBe(":".charCodeAt(0));
  });

  it("resp_str_int reads integers the way Redis does, in 32 bits", () => {
    const { call, put } = machine();
    const int = (s: string) => {
      const [v, ok] = call("resp_str_int", put(s));
      return ok ? v : "bad";
    };
    expect(["0", "7", "-7", "2147483647", "-2147483648", "100"].map(int)).toEqual([0, 7, -7, 2147483647, -2147483648, 100]);
    expect(["", "-", "-0", "01", "+1", " 1", "1 ", "1x", "2147483648", "-2147483649", "99999999999"].map(int)).toEqual(Array(11).fill("bad"));
  });

  it("resp_str_int64 and sb_putint64 read and write every signed 64-bit number", () => {
    const { m, call, put } = machine();
    const words = (v: bigint) => [Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n))];
    const values = [0n, 1n, -1n, 9n, 10n, -10n, 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 32n, 2n ** 63n - 1n, -(2n ** 63n), 1000000000000n];
    let x = 88172645463325252n;
    for (let i = 0; i < 200; i++) {
      x ^= (x << 13n) & (2n ** 64n - 1n);
      x ^= x >> 7n;
      x ^= (x << 17n) & (2n ** 64n - 1n);
      values.push(BigInt.asIntN(64, x) >> BigInt(i % 60));
    }
    for (const v of values) {
      const [lo, hi, ok] = call("resp_str_int64", put(String(v)));
      expect([lo, hi, ok], String(v)).toEqual([...words(v), 1]);
      call("sb_reset", [SB]);
      call("sb_putint64", [SB, ...words(v)]);
      expect(new TextDecoder().decode(m.mem.subarray(SB + 8, SB + 8 + m.mem32[SB >> 2]))).toBe(String(v));
    }
    for (const bad of ["", "-", "-0", "01", "+1", "1 ", "9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999"])
      expect(call("resp_str_int64", put(bad))[2], bad).toBe(0);
  });

  it("hash.s: put, find, replace (in place and moved), delete, many keys in few buckets; alloc reuses freed blocks", () => {
    const { m, call, put } = machine();
    const KEY = BUF;
    const VAL = BUF + 1024;
    const set = (k: string, v: string) => call("table_put", [...put(k, KEY), ...put(v, VAL)])[0];
    const get = (k: string) => {
      const [e] = call("table_find", put(k, KEY));
      if (e === 0) return null;
      const [a, l] = call("table_value", [e]);
      return new TextDecoder().decode(m.mem.subarray(a, a + l));
    };
    const count = () => m.mem32[sym("table_count") >> 2];
    for (let i = 0; i < 200; i++) expect(set(`key${i}`, `value${i}`)).toBe(1);
    expect(count()).toBe(200);
    for (let i = 0; i < 200; i += 7) expect(get(`key${i}`)).toBe(`value${i}`);
    expect(get("key200")).toBe(null);
    expect(set("key5", "v")).toBe(1); // shorter: in place
    expect(get("key5")).toBe("v");
    expect(set("key5", "x".repeat(500))).toBe(1); // longer: a new block
    expect(get("key5")).toBe("x".repeat(500));
    expect(count()).toBe(200);
    for (let i = 0; i < 200; i += 2) expect(call("table_del", put(`key${i}`, KEY))[0]).toBe(1);
    expect(call("table_del", put("key0", KEY))[0]).toBe(0);
    expect(count()).toBe(100);
    for (let i = 1; i < 200; i += 2) expect(get(`key${i}`)).toBe(i === 5 ? "x".repeat(500) : `value${i}`);
    // Freed blocks come back: re-adding as many keys of the same sizes needs no new heap.
    const next = m.mem32[sym("alloc_next") >> 2];
    for (let i = 0; i < 200; i += 2) set(`key${i}`, `value${i}`);
    expect(m.mem32[sym("alloc_next") >> 2]).toBe(next);
    expect(count()).toBe(200);
  });

  it("alloc: size classes, exhaustion gives 0, hash_bytes is FNV-1a", () => {
    const { m, call, put } = machine();
    const [a] = call("alloc", [1]);
    const [b] = call("alloc", [24]);
    expect(b - a).toBe(32);
    const [big] = call("alloc", [128 * 1024]);
    expect(big).toBe(0); // above the largest class
    call("free", [a]);
    expect(call("alloc", [10])[0]).toBe(a);
    m.mem32[sym("alloc_end") >> 2] = m.mem32[sym("alloc_next") >> 2] + 40;
    expect(call("alloc", [100])[0]).toBe(0);
    let h = 0x811c9dc5;
    for (const c of te.encode("hello")) h = Math.imul(h ^ c, 0x01000193);
    expect(call("hash_bytes", put("hello"))[0]).toBe(h | 0);
  });

  it("strbuf.s and the reply writers never write past the capacity", () => {
    const { m, call, put } = machine();
    const text = () => new TextDecoder().decode(m.mem.subarray(SB + 8, SB + 8 + m.mem32[SB >> 2]));
    call("sb_putint", [SB, -2147483648]);
    call("resp_bulk", [SB, ...put("ab")]);
    expect(text()).toBe("-2147483648$2\r\nab\r\n");
    m.mem[SB + 8 + 64] = 0xee; // the byte after the buffer
    call("resp_bulk", [SB, ...put("y".repeat(100))]);
    expect(m.mem32[SB >> 2]).toBe(64);
    expect(m.mem[SB + 8 + 64]).toBe(0xee);
  });
});

// ---- the guest must survive anything a client sends ----

describe("redis.s under garbage input", () => {
  it("never traps: random bytes, broken commands and huge arguments from 40 seeded clients", () => {
    const image = assembleFile(join(ROOT, "programs/redis.s"));
    const m = new Machine(image, { memBytes: 16 * 1024 * 1024 });
    attachEngine(m);
    const inbox = new NetInbox();
    const bus = new Bus(m, undefined as never);
    const env = new LiveEnv(bus, { ...fakeWorld(5), net: inbox }, () => undefined);
    bus.env = env;
    const runner = new LiveRunner(bus, env, { sliceIcount: 20_000 });
    let s = 12345;
    const rand = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return (s >>> 8) % n;
    };
    const pieces = ["*", "$", "\r\n", "\n", "\r", "-1", "3", "99999", "SET", "GET", "INCR", "k", " ", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "\0", "\xff"];
    const open = new Set<number>();
    let closedByGuest = 0;
    for (let step = 0; step < 3000; step++) {
      if (open.size < 40 && rand(4) === 0) {
        const id = inbox.open();
        if (id !== undefined) open.add(id);
      }
      for (const id of open) {
        if (rand(3) !== 0) continue;
        let text = "";
        const n = rand(20);
        for (let i = 0; i < n; i++) text += rand(4) === 0 ? String.fromCharCode(rand(256)) : pieces[rand(pieces.length)];
        if (rand(200) === 0) text = `SET big ${"z".repeat(40_000)}`;
        const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0) & 255);
        if (!inbox.data(id, bytes)) inbox.abort(id);
        if (rand(50) === 0) inbox.end(id);
      }
      const r = runner.step();
      expect(m.trap, `trap at step ${step}: ${m.trap?.kind} ${m.trap?.detail}`).toBeNull();
      expect(r === "continue" || r === "waiting").toBe(true);
      for (const ch of bus.nic.drainOutput())
        if (ch.close) {
          inbox.guestClosed(ch.conn);
          open.delete(ch.conn);
          closedByGuest++;
        }
    }
    expect(closedByGuest).toBeGreaterThan(10); // protocol errors close connections
    // The server still answers a well-formed client afterwards.
    const id = inbox.open()!;
    inbox.data(id, te.encode("PING\r\n"));
    let reply = "";
    for (let i = 0; i < 5000 && !reply.includes("\r\n"); i++) {
      runner.step();
      for (const ch of bus.nic.drainOutput()) if (ch.conn === id) reply += new TextDecoder().decode(ch.bytes);
    }
    expect(reply).toBe("+PONG\r\n");
  });
});
