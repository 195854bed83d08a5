// `ftvm ft <prog>`: the whole FT cluster on this machine. An arbiter, a primary and a
// backup, each its own OS process on loopback; this launcher holds the console sink
// (outside both hosts' failure domain), shows the guest's output and a status line per
// host, crashes hosts on request, and ends with a summary.
import type { Command } from "./args.js";
import { EXIT_OK, UsageError, intOption, parse } from "./args.js";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import { type ClusterOptions, runCluster } from "../host/launcher.js";
import { eventLine } from "../host/run-events.js";
import { isEtcdUrl } from "../arbiter/open.js";
import { arbiterOption } from "./hosts.js";

export const ftCommand: Command = {
  name: "ft",
  summary: "run a program under FT: arbiter + primary + backup processes, crash them at will",
  usage: `usage: ftvm ft <prog.s|prog.ftb> [options]

Starts an arbiter, a primary and a backup as separate processes on loopback and shows
the guest's console output through a sink outside both hosts, with a status line per
host on a terminal. Ends when the guest halts (or on Ctrl-C) with a summary on stderr.

Times T count from the moment the pair is formed (the arbiter granted the first epoch
to a primary and its backup), not from the launch: starting processes on a busy machine
takes seconds. A scripted kill never takes the last live host: one that falls due while
no backup is paired (per the arbiter's membership) waits until one is.

  --crash-primary-at-icount N   SIGKILL the primary when its guest reaches icount N (a
                                primary that reaches N without a paired backup waits there
                                for one)
  --crash-primary-after-ms T    SIGKILL the primary T ms after the pair is formed
  --crash-backup-at-icount N    SIGKILL the backup when its replay reaches icount N
  --crash-backup-after-ms T     SIGKILL the backup T ms after the pair is formed
  --crash-arbiter-after-ms T    SIGKILL the arbiter T ms after the pair is formed (the
                                launcher restarts it with its state file)
  --crash-primary-every-ms T    SIGKILL whichever host is primary every T ms
  --partition-after-ms T        cut the log channel between the hosts T ms after the pair
                                is formed
  --drop-channel-after-ms T     drop the log channel's connection T ms after the pair is
                                formed (a blip: the backup reconnects and catches up)
  --no-respawn                  do not start a new backup after a host fails (by default a
                                new backup joins the survivor by clone, in a new epoch)
  --no-spare                    do not keep a standby backup process ready (by default one
                                is started while a pair runs, so a new backup joins at once)
  --disk IMAGE                  a disk (make one with ftvm disk create), shared by default:
                                the launcher serves it to whichever host is live; writes obey
                                the output rule and carry the epoch, so a deposed primary
                                cannot write
  --disk-mode shared|non-shared non-shared: each host gets its own copy of IMAGE (in a
                                temporary directory the launcher names); both apply the same
                                writes; at the end the image of the host that finished as the
                                live primary is copied back over IMAGE
  --backup-reads                non-shared: disk reads go into the log without their data (a
                                CRC-32 instead); the backup reads its own image
  --mem SIZE                    guest memory (e.g. 16M)
  --listen [HOST:]PORT          serve network clients through a virtual switch in this
                                launcher: one address across failovers (see README)
  --backup-slowdown F           backups replay F times slower: the primary throttles itself
                                once the lag passes --lag-threshold-ms (default 1000)
  --lag-threshold-ms N          see above
  --log-buffer-bytes SIZE       the primary's bound on unacknowledged log (default 64M)
  --heartbeat-ms N              heartbeat interval (default ${HEARTBEAT_INTERVAL_MS_DEFAULT})
  --timeout-ms N                the least silence (ms, counted only while the host runs)
                                that makes a peer suspect; the detector adapts above it to
                                the spread of heartbeats it has seen (default ${FAILURE_TIMEOUT_MS_DEFAULT})
  --record FILE                 write the run's log: one .ftlog stitched from what every
                                live host logged (epoch boundaries in its header); ftvm
                                replay FILE re-executes the whole run, across failovers
  --unlogged-rand               UNSAFE, for demonstrations and tests: the primary reads RAND
                                without logging it, so its backup diverges at the first RAND;
                                the backup stops there and names the icount, the instruction
                                and its source line (the summary repeats it)
  --on-divergence halt-backup|stop   what follows a backup's divergence: it halts and a new
                                backup is cloned from the primary (default), or the run stops
  --trace-dir DIR               every host writes its execution trace in DIR (a new or empty
                                directory), named by host and epochs, e.g.
                                host2-backup-e1-primary-e2.trace; the summary lists them;
                                compare them with ftvm trace diff DIR
  --trace-interval N            instructions between periodic trace records (default 100000)
  --no-stdin                    give the guest no console input (stdin is not read)
  --arbiter etcd://HOST:PORT[,HOST:PORT...][/PREFIX]
                                the arbiter is etcd (no arbiter process): the run founds a
                                new cluster under PREFIX/<cluster id> (PREFIX default
                                "ftvm"); see docs/etcd.md
  --etcd                        the arbiter is a local 3-member etcd cluster this run starts
                                (Debian: apt-get install etcd-server) and stops at the end
  --quiet                       no status lines, no host log lines
  --json                        print the run's events on stdout, one JSON object per line
                                (the guest's output is in them); see docs/events.md
  --ui [PORT]                   serve a live dashboard on http://127.0.0.1:PORT (default: a
                                free port; the URL is printed); see docs/dashboard.md
  --ui-host HOST                serve the dashboard on HOST instead (then the URL carries an
                                access token: anyone with it can crash hosts)
  --report FILE.html            at the end, write the run's dashboard as one self-contained
                                page (opens offline)
  --interpret                   use the reference interpreter

The arbiter keeps its cluster id and epochs in a file in a temporary directory of this
run (written and fsynced before each grant is answered); if it dies, the launcher
restarts it on the same port with that file, so it remembers every epoch.

Console input: stdin is the guest's console input, as with ftvm run. The launcher holds
every byte until the primary's log holding it is acknowledged by the backup; after a
failover the new primary gets again exactly what the old one had not logged, and no
byte twice. --no-stdin gives the guest no input.

On a terminal, stdin carries both the guest's keys and the launcher's, behind an escape
prefix as in ssh: at the start of a line, ~p crashes the primary, ~b the backup, ~a the
arbiter, ~. (or ~q) stops, ~? lists these, ~~ types a ~; Ctrl-C stops; Ctrl-D at the
start of a line ends the guest's input. Or run "ftvm crash primary|backup|arbiter" in
another terminal.`,
  async run(argv) {
    const p = parse(
      optionalValue(argv, "--ui", /^\d+$/, "0"),
      {
        "crash-primary-at-icount": { type: "string" },
        "crash-primary-after-ms": { type: "string" },
        "crash-backup-at-icount": { type: "string" },
        "crash-backup-after-ms": { type: "string" },
        "crash-arbiter-after-ms": { type: "string" },
        "partition-after-ms": { type: "string" },
        "crash-primary-every-ms": { type: "string" },
        "drop-channel-after-ms": { type: "string" },
        "no-respawn": { type: "boolean" },
        "no-spare": { type: "boolean" },
        mem: { type: "string" },
        disk: { type: "string" },
        "disk-mode": { type: "string" },
        "backup-reads": { type: "boolean" },
        "backup-slowdown": { type: "string" },
        "lag-threshold-ms": { type: "string" },
        "log-buffer-bytes": { type: "string" },
        "heartbeat-ms": { type: "string" },
        "timeout-ms": { type: "string" },
        quiet: { type: "boolean" },
        interpret: { type: "boolean" },
        listen: { type: "string" },
        json: { type: "boolean" },
        ui: { type: "string" },
        "ui-host": { type: "string" },
        report: { type: "string" },
        "trace-dir": { type: "string" },
        "trace-interval": { type: "string" },
        "no-stdin": { type: "boolean" },
        record: { type: "string" },
        "unlogged-rand": { type: "boolean" },
        "on-divergence": { type: "string" },
        arbiter: { type: "string" },
        etcd: { type: "boolean" },
      },
      this.usage,
    );
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length !== 1) throw new UsageError(`expected one program\n\n${this.usage}`);
    const program = p.positionals[0];
    const opt = (n: string) => intOption(p.values[n] as string | undefined, n);
    const arbiter = p.values.arbiter as string | undefined;
    const etcd = !!p.values.etcd;
    if (arbiter !== undefined && !isEtcdUrl(arbiter)) throw new UsageError(`--arbiter: ftvm ft runs its own embedded arbiter; --arbiter takes etcd://HOST:PORT[,HOST:PORT...][/PREFIX], got "${arbiter.slice(0, 100)}"`);
    if (arbiter !== undefined) arbiterOption(arbiter);
    if (arbiter !== undefined && etcd) throw new UsageError("--arbiter etcd://... (an etcd you run) and --etcd (a local one this run starts) exclude each other");
    if ((arbiter !== undefined || etcd) && p.values["crash-arbiter-after-ms"] !== undefined)
      throw new UsageError("--crash-arbiter-after-ms: with etcd there is no arbiter process to kill (kill an etcd member instead; see docs/etcd.md)");
    return runCluster({
      program,
      crashPrimaryAtIcount: opt("crash-primary-at-icount"),
      crashPrimaryAfterMs: opt("crash-primary-after-ms"),
      crashBackupAtIcount: opt("crash-backup-at-icount"),
      crashBackupAfterMs: opt("crash-backup-after-ms"),
      crashArbiterAfterMs: opt("crash-arbiter-after-ms"),
      partitionAfterMs: opt("partition-after-ms"),
      crashPrimaryEveryMs: opt("crash-primary-every-ms"),
      dropChannelAfterMs: opt("drop-channel-after-ms"),
      respawn: !p.values["no-respawn"],
      spare: !p.values["no-spare"],
      mem: p.values.mem as string | undefined,
      disk: p.values.disk as string | undefined,
      diskMode: diskModeOption(p.values["disk-mode"] as string | undefined),
      backupReads: !!p.values["backup-reads"],
      backupSlowdown: p.values["backup-slowdown"] as string | undefined,
      lagThresholdMs: opt("lag-threshold-ms"),
      logBufferBytes: p.values["log-buffer-bytes"] as string | undefined,
      heartbeatMs: opt("heartbeat-ms"),
      timeoutMs: opt("timeout-ms"),
      quiet: !!p.values.quiet,
      interpret: !!p.values.interpret,
      listen: p.values.listen as string | undefined,
      ...viewOptions(p.values),
      traceDir: p.values["trace-dir"] as string | undefined,
      traceIntervalIcount: opt("trace-interval"),
      input: p.values["no-stdin"] ? undefined : process.stdin,
      record: p.values.record as string | undefined,
      unloggedRand: !!p.values["unlogged-rand"],
      onDivergence: divergenceOption(p.values["on-divergence"] as string | undefined),
      arbiter,
      etcd,
    });
  },
};

function divergenceOption(v: string | undefined): "halt-backup" | "stop" | undefined {
  if (v === undefined || v === "halt-backup" || v === "stop") return v;
  throw new UsageError(`--on-divergence takes halt-backup or stop, got "${v}"`);
}

function diskModeOption(v: string | undefined): "shared" | "non-shared" | undefined {
  if (v === undefined || v === "shared" || v === "non-shared") return v;
  throw new UsageError(`--disk-mode takes shared or non-shared, got "${v}"`);
}


/**
 * `--ui [PORT]`: parseArgs has no optional values, so a `--ui` not followed by a value
 * of that shape gets the default.
 */
export function optionalValue(argv: string[], flag: string, shape: RegExp, dflt: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--") return [...out, ...argv.slice(i)];
    if (argv[i] !== flag) out.push(argv[i]);
    else if (i + 1 < argv.length && shape.test(argv[i + 1])) out.push(`${flag}=${argv[++i]}`);
    else out.push(`${flag}=${dflt}`);
  }
  return out;
}

/** --json, --ui, --ui-host and --report as launcher options (also for `ftvm demo`). */
export function viewOptions(v: Record<string, unknown>): Partial<ClusterOptions> {
  const out: Partial<ClusterOptions> = {};
  if (v["ui-host"] !== undefined && v.ui === undefined) throw new UsageError("--ui-host goes with --ui");
  if (v.ui !== undefined) {
    const port = intOption(v.ui as string, "ui")!;
    if (port > 65535) throw new UsageError(`--ui takes a port from 0 to 65535, got ${port}`);
    out.ui = { port, ...(v["ui-host"] !== undefined ? { host: v["ui-host"] as string } : {}) };
  }
  if (v.report !== undefined) {
    if (v.report === "") throw new UsageError("--report takes a file name");
    out.report = v.report as string;
  }
  if (v.json) {
    // Stdout carries only the events: the guest's output is in their console events.
    out.onEvent = (e) => process.stdout.write(eventLine(e));
    out.write = () => undefined;
  }
  return out;
}
