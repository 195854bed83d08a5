// `ftvm arbiter`, `ftvm primary`, `ftvm backup`: each FT role as its own process, for
// separate machines. Every option comes from its flag, then the environment (FTVM_<NAME>,
// e.g. FTVM_ARBITER), then a JSON config file (--config, checked: src/cli/config.ts),
// then its default; the option tables below are the only definition of each.
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { arbiterUrlProblem } from "../arbiter/open.js";
import { clusterIdProblem } from "../arbiter/core.js";
import { ArbiterStateError, startArbiter } from "../arbiter/server.js";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import { FtHost } from "../host/ft-host.js";
import { loadProgram, resolveProgram } from "../host/program.js";
import { setLogPrefix } from "../transport/channel.js";
import type { OptionDefs } from "./args.js";
import { EXIT_OK, UsageError, count, defineCommand, factor, hostPort, need, size, wsUrl } from "./args.js";
import { ARBITER_FIRST_CONTACT_MS_DEFAULT, firstContact } from "../host/arbiter-contact.js";

/** Waiting for a backup before the primary runs alone, unless told otherwise. */
const WAIT_BACKUP_MS_DEFAULT = 10_000;

function cluster(text: string, flag: string): string {
  const problem = clusterIdProblem(text);
  if (problem) throw new UsageError(`${flag}: ${problem}`);
  return text;
}

/** `--arbiter`: the embedded arbiter (ws://HOST:PORT) or etcd (etcd://HOST:PORT[,HOST:PORT...][/PREFIX]). */
export function arbiterOption(text: string, flag = "--arbiter"): string {
  const problem = arbiterUrlProblem(text);
  if (problem) throw new UsageError(`${flag}: ${problem}`);
  return text;
}

/** Options every FT role shares (the switch takes a few of them too). */
export const HOST_OPTIONS = {
  arbiter: { flags: "--arbiter <url>", help: "the arbiter: ws://HOST:PORT (ftvm arbiter), or etcd at etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (keys under PREFIX, default \"ftvm\"; see docs/etcd.md); required", parse: arbiterOption },
  cluster: { flags: "--cluster <id>", help: "the cluster this host belongs to (the arbiter prints it); without it the host learns it from the arbiter. An arbiter, sink, switch, disk server or peer of another cluster is refused", parse: cluster },
  secret: { flags: "--secret <s>", help: "shared secret for every channel; required" },
  sink: { flags: "--sink <url>", help: "console sink for guest output", parse: wsUrl, defaultText: "stdout" },
  switch: { flags: "--switch <url>", help: "virtual switch: network clients reach the guest through it", parse: wsUrl },
  diskServer: { flags: "--disk-server <url>", help: "the shared disk's server (ftvm ft --disk starts one); the primary learns the geometry from it", parse: wsUrl },
  diskReadImage: { flags: "--disk-read-image <file>", help: "with --disk-server: the shared disk's image file itself (this host runs where it lies); reads go to it directly, writes still through the server (ftvm ft passes it)" },
  diskImage: { flags: "--disk-image <file>", help: "a non-shared disk: this host's own image (both hosts apply the same writes to their own)" },
  heartbeatMs: { flags: "--heartbeat-ms <t>", help: "heartbeat interval", parse: count(1), default: HEARTBEAT_INTERVAL_MS_DEFAULT },
  timeoutMs: { flags: "--timeout-ms <t>", help: "declare the peer dead after T ms of silence", parse: count(1), default: FAILURE_TIMEOUT_MS_DEFAULT },
  arbiterWaitMs: { flags: "--arbiter-wait-ms <t>", help: "without --cluster: wait at most T ms for the arbiter's first answer, then exit 3", parse: count(1), default: ARBITER_FIRST_CONTACT_MS_DEFAULT },
  crashAtIcount: { flags: "--crash-at-icount <n>", help: "SIGKILL this host when the guest reaches icount N (demos, tests)", parse: count() },
  crashOnlyPaired: { flags: "--crash-only-paired", help: "with --crash-at-icount, as a primary: reaching N without a paired backup, wait there until one has joined, then crash" },
  hostId: { flags: "--host-id <n>", help: "the value HOSTID returns while this host is live", parse: count() },
  logBufferBytes: { flags: "--log-buffer-bytes <size>", help: "bound on log the backup has not acknowledged; a primary pauses the guest when it is full", parse: size, defaultText: "64MiB" },
  lagThresholdMs: { flags: "--lag-threshold-ms <t>", help: "a primary slows down gradually once its backup's execution trails by more than T ms", parse: count(), defaultText: "1000" },
  slowdown: { flags: "--slowdown <f>", help: "as a backup, replay F times slower (to show throttling)", parse: factor(1, 100) },
  interpret: { flags: "--interpret", help: "use the reference interpreter" },
  exitWithParent: { flags: "--exit-with-parent", help: "exit when stdin closes (the launcher that started this process died)" },
  trace: { flags: "--trace <file>", help: "write this host's execution trace (the format of ftvm record --trace; a backup's trace goes on in the same file when it goes live, with a mark there); compare with ftvm trace diff" },
  traceInterval: { flags: "--trace-interval <n>", help: "instructions between periodic trace records", parse: count(1), defaultText: "100000" },
  recordSegment: { flags: "--record-segment <file>", help: "write every event this host logs while live, with its epoch (ftvm ft --record stitches the hosts' segments into one .ftlog)" },
  unloggedRand: { flags: "--unlogged-rand", help: "UNSAFE: while live, RAND is not logged, so the backup diverges at the first RAND (to demonstrate divergence caught live)" },
} satisfies OptionDefs;

/**
 * With --exit-with-parent the launcher holds our stdin open; when it dies (even by
 * SIGKILL) the pipe closes and we follow, so no orphaned hosts or arbiters stay behind.
 */
export function exitWithParent(v: Record<string, unknown>): void {
  if (v.exitWithParent !== true) return;
  process.stdin.on("close", () => process.exit(0));
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

function ftOptions(v: Record<string, unknown>) {
  if (v.diskImage !== undefined && v.diskServer !== undefined) throw new UsageError("--disk-image (a non-shared disk) and --disk-server (a shared one) exclude each other");
  if (v.diskReadImage !== undefined && v.diskServer === undefined) throw new UsageError("--disk-read-image needs --disk-server (it is the shared disk's image)");
  return {
    secret: need<string>(v, "secret", "--secret"),
    arbiterUrl: need<string>(v, "arbiter", "--arbiter"),
    cluster: v.cluster as string | undefined,
    sinkUrl: v.sink as string | undefined,
    switchUrl: v.switch as string | undefined,
    diskServerUrl: v.diskServer as string | undefined,
    diskImage: v.diskImage as string | undefined,
    diskReadImage: v.diskReadImage as string | undefined,
    heartbeatMs: v.heartbeatMs as number,
    timeoutMs: v.timeoutMs as number,
    crashAtIcount: v.crashAtIcount as number | undefined,
    crashOnlyPaired: v.crashOnlyPaired === true,
    guestHostId: v.hostId as number | undefined,
    logBufferBytesMax: v.logBufferBytes as number | undefined,
    lagThresholdMs: v.lagThresholdMs as number | undefined,
    slowdown: v.slowdown as number | undefined,
    tracePath: v.trace as string | undefined,
    traceIntervalIcount: v.traceInterval as number | undefined,
    recordSegmentPath: v.recordSegment as string | undefined,
    unloggedRand: v.unloggedRand === true,
  };
}

/**
 * Options of a primary or backup. Without --cluster the host learns its cluster from the
 * arbiter, waiting for it at most --arbiter-wait-ms (src/host/arbiter-contact.ts): a
 * typo'd address fails in one line. A host given its cluster (as `ftvm ft` starts them)
 * belongs to a supervised cluster whose arbiter may be restarting: it waits patiently.
 */
async function hostOptions(v: Record<string, unknown>) {
  const o = ftOptions(v);
  return { ...o, cluster: o.cluster ?? (await firstContact(o.arbiterUrl, o.secret, undefined, v.arbiterWaitMs as number)) };
}

/**
 * A standby's orders on stdin (the launcher writes them): "prepare URL" (any number, the
 * last counts) names the host likely to need it next, to connect to ahead of time; the
 * first "join URL" names the primary to join now.
 */
function standbyOrdersFromStdin(): { join: Promise<string>; onPrepare(fn: (url: string) => void): void } {
  let prepare: ((url: string) => void) | undefined;
  let lastPrepared: string | undefined;
  const join = new Promise<string>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      const p = /^prepare (ws:\/\/\S+)$/.exec(line.trim());
      if (p) {
        lastPrepared = p[1];
        prepare?.(p[1]);
        return;
      }
      const m = /^join (ws:\/\/\S+)$/.exec(line.trim());
      if (m) {
        lines.close();
        // Closing the reader pauses stdin: keep reading it, so the launcher's end still ends us (--exit-with-parent).
        process.stdin.resume();
        resolve(m[1]);
      }
    });
  });
  return {
    join,
    onPrepare(fn) {
      prepare = fn;
      if (lastPrepared !== undefined) fn(lastPrepared);
    },
  };
}

/** A new random cluster id (an arbiter that starts without state founds a new cluster). */
export function newClusterId(): string {
  return randomBytes(8).toString("hex");
}

async function runHost(f: () => Promise<void>): Promise<number> {
  // A host that halts exits from its shell with its own code; f() returns only when the guest finished.
  await f();
  return EXIT_OK;
}

const listenDefault = { host: "127.0.0.1", port: 0 };

export const arbiterCommand = defineCommand({
  name: "arbiter",
  summary: "run the arbiter: test-and-set with epochs",
  config: true,
  envAll: true,
  options: {
    state: {
      flags: "--state <file>",
      help: "where the arbiter keeps its cluster id and epochs (required): every grant is written and fsynced there before it is answered. A FILE that does not exist founds a new cluster",
    },
    listen: { flags: "--listen <[host:]port>", help: "where to listen", parse: hostPort, default: listenDefault, defaultText: "127.0.0.1:0, an unused port" },
    secret: HOST_OPTIONS.secret,
    exitWithParent: HOST_OPTIONS.exitWithParent,
  },
  more: `Prints "cluster ID epoch N" and then "listening ws://HOST:PORT" when ready. A state FILE
of the wrong shape is refused (exit 2) with what was expected.`,
  async run(v) {
    exitWithParent(v);
    const { host, port } = v.listen as { host: string; port: number };
    setLogPrefix("arbiter: ");
    const secret = need<string>(v, "secret", "--secret");
    const stateFile = need<string>(v, "state", "--state");
    let server;
    try {
      server = await startArbiter({ host, port, secret, stateFile, newClusterId });
    } catch (e) {
      // A state file of the wrong shape is the user's input error: exit 2 as for a bad flag.
      if (e instanceof ArbiterStateError) throw new UsageError(e.message);
      throw e;
    }
    const s = server.state();
    process.stderr.write(
      server.created
        ? `arbiter: founded cluster ${s.cluster}; its state is in ${stateFile}\n`
        : `arbiter: cluster ${s.cluster} at epoch ${s.epoch} (held by ${s.holder || "nobody"}), from ${stateFile}\n`,
    );
    process.stdout.write(`cluster ${s.cluster} epoch ${s.epoch}\nlistening ${server.url}\n`);
    return new Promise<number>(() => undefined);
  },
});

export const primaryCommand = defineCommand({
  name: "primary",
  summary: "run a program as the FT primary",
  args: [["<prog>", "a program: assembly (.s), an image (.ftb), or a bundled program's name"]],
  config: true,
  envAll: true,
  options: {
    listen: { flags: "--listen <[host:]port>", help: 'where the backup connects; prints "listening URL"', parse: hostPort, default: listenDefault, defaultText: "127.0.0.1:0" },
    waitBackupMs: { flags: "--wait-backup-ms <t>", help: "wait this long for a backup before running alone", parse: count(), default: WAIT_BACKUP_MS_DEFAULT },
    backupReads: { flags: "--backup-reads", help: "with --disk-image: log disk reads without their data (a CRC-32); the backup reads its own image instead" },
    mem: { flags: "--mem <size>", help: "guest memory", parse: size, defaultText: "1MiB" },
    stack: { flags: "--stack <size>", help: "guest stack", parse: size, defaultText: "64KiB" },
    ...HOST_OPTIONS,
  },
  async run(v, [prog]) {
    exitWithParent(v);
    const { host, port } = v.listen as { host: string; port: number };
    const program = resolveProgram(prog);
    const image = loadProgram(program);
    setLogPrefix("primary: ");
    const backupReads = v.backupReads === true;
    if (backupReads && v.diskImage === undefined) throw new UsageError("--backup-reads needs a non-shared disk (--disk-image)");
    const opts = await hostOptions(v);
    const h = new FtHost({ ...opts, interpret: v.interpret === true, backupReads });
    return runHost(() =>
      h.runPrimary({
        ...opts,
        interpret: v.interpret === true,
        backupReads,
        program,
        image,
        memBytes: v.mem as number | undefined,
        stackBytes: v.stack as number | undefined,
        listenHost: host,
        listenPort: port,
        waitForBackupMs: v.waitBackupMs as number,
        onListening: (url) => process.stdout.write(`listening ${url}\n`),
      }),
    );
  },
});

export const backupCommand = defineCommand({
  name: "backup",
  summary: "run as the FT backup of a primary",
  config: true,
  envAll: true,
  options: {
    primary: { flags: "--primary <url>", help: "the primary's log channel (ws://HOST:PORT); this or --join is required", parse: wsUrl },
    join: { flags: "--join <url>", help: "the same, for a primary that is already running alone: it sends a snapshot (a clone) and the pair claims a new epoch", parse: wsUrl },
    joinStdin: { flags: "--join-stdin", help: 'a standby: start, connect everything, then wait for a line "join URL" on stdin and join that primary (ftvm ft keeps one ready, so a new backup does not pay the process\'s start-up); a line "prepare URL" before it connects to that host ahead of time, and a join of the same URL uses the connection' },
    listen: { flags: "--listen <[host:]port>", help: 'where a later backup joins this host once it is live; prints "listening URL"', parse: hostPort, default: listenDefault, defaultText: "127.0.0.1:0" },
    ...HOST_OPTIONS,
  },
  async run(v) {
    exitWithParent(v);
    setLogPrefix("backup: ");
    const { host, port } = v.listen as { host: string; port: number };
    // A primary decides whether a backup starts with it or joins by clone: --join is --primary's other name.
    const orders = v.joinStdin === true ? standbyOrdersFromStdin() : undefined;
    const primaryUrl = orders?.join ?? ((v.join as string | undefined) ?? need<string>(v, "primary", "--primary"));
    const opts = { ...(await hostOptions(v)), interpret: v.interpret === true };
    const h = new FtHost(opts);
    return runHost(() => h.runBackup({ ...opts, primaryUrl, onPrepare: orders?.onPrepare, listenHost: host, listenPort: port, onListening: (url) => process.stdout.write(`listening ${url}\n`) }));
  },
});
