// `ftvm arbiter`, `ftvm primary`, `ftvm backup`: each FT role as its own process, for
// separate machines. Options come from flags, then environment variables (FTVM_*), then
// a JSON config file (--config), then defaults.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { clusterIdProblem } from "../arbiter/core.js";
import { ArbiterStateError, startArbiter } from "../arbiter/server.js";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import { FtHost } from "../host/ft-host.js";
import { loadProgram } from "../host/program.js";
import { setLogPrefix } from "../transport/channel.js";
import type { Command, Parsed } from "./args.js";
import { EXIT_OK, UsageError, bytesOption, intOption, parse, slowdownOption, wsUrlOption } from "./args.js";
import { ARBITER_FIRST_CONTACT_MS_DEFAULT, firstContact } from "../host/arbiter-contact.js";
import { parseConfig } from "./config.js";

const SHARED = {
  config: { type: "string" },
  secret: { type: "string" },
  arbiter: { type: "string" },
  cluster: { type: "string" },
  sink: { type: "string" },
  switch: { type: "string" },
  "disk-server": { type: "string" },
  "disk-image": { type: "string" },
  "heartbeat-ms": { type: "string" },
  "timeout-ms": { type: "string" },
  "crash-at-icount": { type: "string" },
  "crash-only-paired": { type: "boolean" },
  "host-id": { type: "string" },
  "log-buffer-bytes": { type: "string" },
  "lag-threshold-ms": { type: "string" },
  slowdown: { type: "string" },
  interpret: { type: "boolean" },
  "exit-with-parent": { type: "boolean" },
  "arbiter-wait-ms": { type: "string" },
} as const;

const SHARED_HELP = `  --arbiter URL         the arbiter (ws://HOST:PORT)              env FTVM_ARBITER
  --cluster ID          the cluster this host belongs to (the arbiter prints it); without
                        it the host learns it from the arbiter as it starts. An arbiter,
                        sink, switch, disk server or peer of another cluster is refused
                                                                  env FTVM_CLUSTER
  --sink URL            console sink for guest output (default: stdout) env FTVM_SINK
  --switch URL          virtual switch: network clients reach the guest through it env FTVM_SWITCH
  --disk-server URL     the shared disk's server (ftvm ft --disk starts one); the
                        primary learns the geometry from it       env FTVM_DISK_SERVER
  --disk-image FILE     a non-shared disk: this host's own image (both hosts apply the
                        same writes to their own; ftvm ft --disk-mode non-shared makes
                        the copies)                               env FTVM_DISK_IMAGE
  --secret S            shared secret for every channel           env FTVM_SECRET
  --heartbeat-ms N      heartbeat interval (default ${HEARTBEAT_INTERVAL_MS_DEFAULT})           env FTVM_HEARTBEAT_MS
  --timeout-ms N        declare the peer dead after N ms of silence (default ${FAILURE_TIMEOUT_MS_DEFAULT})
                                                                  env FTVM_TIMEOUT_MS
  --crash-at-icount N   SIGKILL this host when the guest reaches icount N (demos, tests)
  --crash-only-paired   with --crash-at-icount, as a primary: reaching N without a paired
                        backup, wait there (guest paused) until one has joined, then crash
  --host-id N           the value HOSTID returns while this host is live
  --log-buffer-bytes SIZE  bound on log the backup has not acknowledged; a primary
                        pauses the guest when it is full (default 64M)
  --lag-threshold-ms N  a primary slows down gradually once its backup's execution
                        trails by more than N ms (default 1000, as in VMware FT)
  --slowdown F          as a backup, replay F times slower (to show throttling)
  --arbiter-wait-ms N   wait at most N ms for the arbiter's first answer, then exit 3
                        (default ${ARBITER_FIRST_CONTACT_MS_DEFAULT})           env FTVM_ARBITER_WAIT_MS
  --config FILE         JSON file with any of these options (e.g. {"arbiter": "ws://..."})
  --interpret           use the reference interpreter
  --exit-with-parent    exit when stdin closes (the launcher that started this process died)`;

/** Looks an option up: flag, then FTVM_<NAME> in the environment, then the config file (checked strictly: src/cli/config.ts). */
export function resolver(p: Parsed): (name: string) => string | undefined {
  let config = new Map<string, string>();
  const file = p.values.config as string | undefined;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`--config ${file}: ${(e as Error).message}`);
    }
    config = parseConfig(text, file, p.options);
  }
  return (name) => {
    const v = p.values[name];
    if (typeof v === "string") return v;
    if (v === true) return "true";
    const env = process.env[`FTVM_${name.toUpperCase().replace(/-/g, "_")}`];
    if (env !== undefined) return env;
    return config.get(name);
  };
}

/**
 * With --exit-with-parent the launcher holds our stdin open; when it dies (even by
 * SIGKILL) the pipe closes and we follow, so no orphaned hosts or arbiters stay behind.
 */
export function exitWithParent(p: Parsed): void {
  if (!p.values["exit-with-parent"]) return;
  process.stdin.on("close", () => process.exit(0));
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

export function need(get: (n: string) => string | undefined, name: string, usage: string): string {
  const v = get(name);
  if (v === undefined || v === "") throw new UsageError(`--${name} is required (or FTVM_${name.toUpperCase().replace(/-/g, "_")})\n\n${usage}`);
  return v;
}

export function hostPort(s: string, name: string): { host: string; port: number } {
  const m = /^(?:([^:]+):)?(\d+)$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--${name} takes HOST:PORT or PORT, got "${s}"`);
  return { host: m[1] ?? "127.0.0.1", port: Number(m[2]) };
}

function ftOptions(get: (n: string) => string | undefined, usage: string) {
  return {
    secret: need(get, "secret", usage),
    arbiterUrl: wsUrlOption(need(get, "arbiter", usage), "arbiter")!,
    cluster: clusterOption(get("cluster")),
    sinkUrl: wsUrlOption(get("sink"), "sink"),
    switchUrl: wsUrlOption(get("switch"), "switch"),
    diskServerUrl: wsUrlOption(get("disk-server"), "disk-server"),
    diskImage: diskImageOption(get),
    heartbeatMs: intOption(get("heartbeat-ms"), "heartbeat-ms", 1) ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
    timeoutMs: intOption(get("timeout-ms"), "timeout-ms", 1) ?? FAILURE_TIMEOUT_MS_DEFAULT,
    crashAtIcount: intOption(get("crash-at-icount"), "crash-at-icount"),
    crashOnlyPaired: get("crash-only-paired") !== undefined,
    guestHostId: intOption(get("host-id"), "host-id"),
    logBufferBytesMax: bytesOption(get("log-buffer-bytes"), "log-buffer-bytes"),
    lagThresholdMs: intOption(get("lag-threshold-ms"), "lag-threshold-ms"),
    slowdown: slowdownOption(get("slowdown"), "slowdown"),
  };
}

function diskImageOption(get: (n: string) => string | undefined): string | undefined {
  const image = get("disk-image");
  if (image !== undefined && get("disk-server") !== undefined) throw new UsageError("--disk-image (a non-shared disk) and --disk-server (a shared one) exclude each other");
  return image;
}

/** A new random cluster id (an arbiter that starts without state founds a new cluster). */
export function newClusterId(): string {
  return randomBytes(8).toString("hex");
}

export function clusterOption(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const problem = clusterIdProblem(v);
  if (problem) throw new UsageError(`--cluster: ${problem}`);
  return v;
}


/** Options of a primary or backup, with the cluster learned from the arbiter (a bounded wait: src/host/arbiter-contact.ts). */
async function hostOptions(get: (n: string) => string | undefined, usage: string) {
  const o = ftOptions(get, usage);
  const waitMs = intOption(get("arbiter-wait-ms"), "arbiter-wait-ms", 1) ?? ARBITER_FIRST_CONTACT_MS_DEFAULT;
  return { ...o, cluster: await firstContact(o.arbiterUrl, o.secret, o.cluster, waitMs) };
}

async function runHost(f: () => Promise<void>): Promise<number> {
  // A host that halts exits from its shell with its own code; f() returns only when the guest finished.
  await f();
  return EXIT_OK;
}

export const arbiterCommand: Command = {
  name: "arbiter",
  summary: "run the arbiter: test-and-set with epochs",
  usage: `usage: ftvm arbiter --state FILE [--listen HOST:PORT] [--secret S]

  --state FILE          where the arbiter keeps its cluster id and epochs (required):
                        every grant is written and fsynced there before it is answered,
                        so a restarted arbiter never grants an epoch twice. A FILE that
                        does not exist founds a new cluster (a new random id): hosts of
                        any other cluster refuse it.                env FTVM_STATE
  --listen HOST:PORT    where to listen (default 127.0.0.1:0, an unused port)
Prints "cluster ID epoch N" and then "listening ws://HOST:PORT" when ready. A state FILE
of the wrong shape is refused (exit 2) with what was expected.`,
  async run(argv) {
    const p = parse(argv, { ...SHARED, listen: { type: "string" }, state: { type: "string" } }, this.usage);
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    const get = resolver(p);
    exitWithParent(p);
    const { host, port } = hostPort(get("listen") ?? "127.0.0.1:0", "listen");
    setLogPrefix("arbiter: ");
    const secret = need(get, "secret", this.usage);
    const stateFile = need(get, "state", this.usage);
    let server;
    try {
      server = await startArbiter({ host, port, secret, stateFile, newClusterId });
    } catch (e) {
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
};

export const primaryCommand: Command = {
  name: "primary",
  summary: "run a program as the FT primary",
  usage: `usage: ftvm primary <prog.s|prog.ftb> --arbiter URL [--listen HOST:PORT] [options]

  --listen HOST:PORT    where the backup connects (default 127.0.0.1:0); prints "listening URL"
  --wait-backup-ms N    wait this long for a backup before running alone (default 10000)
  --backup-reads        with --disk-image: log disk reads without their data (a CRC-32);
                        the backup reads its own image instead
  --mem SIZE, --stack SIZE   guest memory and stack sizes
${SHARED_HELP}`,
  async run(argv) {
    const p = parse(
      argv,
      { ...SHARED, listen: { type: "string" }, "wait-backup-ms": { type: "string" }, mem: { type: "string" }, stack: { type: "string" }, "backup-reads": { type: "boolean" } },
      this.usage,
    );
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length !== 1) throw new UsageError(`expected one program\n\n${this.usage}`);
    const get = resolver(p);
    exitWithParent(p);
    const { host, port } = hostPort(get("listen") ?? "127.0.0.1:0", "listen");
    const image = loadProgram(p.positionals[0]);
    setLogPrefix("primary: ");
    const backupReads = !!p.values["backup-reads"];
    if (backupReads && get("disk-image") === undefined) throw new UsageError("--backup-reads needs a non-shared disk (--disk-image)");
    const memBytes = bytesOption(get("mem"), "mem");
    const stackBytes = bytesOption(get("stack"), "stack");
    const waitForBackupMs = intOption(get("wait-backup-ms"), "wait-backup-ms") ?? 10_000;
    const opts = await hostOptions(get, this.usage);
    const h = new FtHost({ ...opts, interpret: !!p.values.interpret, backupReads });
    return runHost(() =>
      h.runPrimary({
        ...opts,
        interpret: !!p.values.interpret,
        backupReads,
        program: p.positionals[0],
        image,
        memBytes,
        stackBytes,
        listenHost: host,
        listenPort: port,
        waitForBackupMs,
        onListening: (url) => process.stdout.write(`listening ${url}\n`),
      }),
    );
  },
};

export const backupCommand: Command = {
  name: "backup",
  summary: "run as the FT backup of a primary",
  usage: `usage: ftvm backup --primary URL --arbiter URL [options]
       ftvm backup --join URL --arbiter URL [options]

  --primary URL         the primary's log channel (ws://HOST:PORT)  env FTVM_PRIMARY
  --join URL            the same, for a primary that is already running alone: it
                        sends a snapshot (a clone) and the pair claims a new epoch
  --listen HOST:PORT    where a later backup joins this host once it is live
                        (default 127.0.0.1:0); prints "listening URL"
${SHARED_HELP}`,
  async run(argv) {
    const p = parse(argv, { ...SHARED, primary: { type: "string" }, join: { type: "string" }, listen: { type: "string" } }, this.usage);
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    const get = resolver(p);
    exitWithParent(p);
    setLogPrefix("backup: ");
    const { host, port } = hostPort(get("listen") ?? "127.0.0.1:0", "listen");
    // A primary decides whether a backup starts with it or joins by clone: --join is --primary's other name.
    const primaryUrl = get("join") !== undefined ? wsUrlOption(get("join"), "join")! : wsUrlOption(need(get, "primary", this.usage), "primary")!;
    const opts = { ...(await hostOptions(get, this.usage)), interpret: !!p.values.interpret };
    const h = new FtHost(opts);
    return runHost(() =>
      h.runBackup({ ...opts, primaryUrl, listenHost: host, listenPort: port, onListening: (url) => process.stdout.write(`listening ${url}\n`) }),
    );
  },
};
