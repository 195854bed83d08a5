// `ftvm ft <prog>`: the whole FT cluster on this machine. An arbiter, a primary and a
// backup, each its own OS process on loopback; this launcher holds the console sink
// (outside both hosts' failure domain), shows the guest's output and a status line per
// host, crashes hosts on request, and ends with a summary.
import type { Command } from "./args.js";
import { EXIT_OK, UsageError, bytesOption, intOption, parse, slowdownOption } from "./args.js";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import { runCluster } from "../host/launcher.js";

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
  --quiet                       no status lines, no host log lines
  --interpret                   use the reference interpreter

The arbiter keeps its cluster id and epochs in a file in a temporary directory of this
run (written and fsynced before each grant is answered); if it dies, the launcher
restarts it on the same port with that file, so it remembers every epoch.

While it runs: press p to crash the primary, b to crash the backup, a to crash the
arbiter, q to stop; or run "ftvm crash primary|backup|arbiter" in another terminal.`,
  async run(argv) {
    const p = parse(
      argv,
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
      },
      this.usage,
    );
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length !== 1) throw new UsageError(`expected one program\n\n${this.usage}`);
    const program = p.positionals[0];
    const opt = (n: string, min = 0) => intOption(p.values[n] as string | undefined, n, min);
    // Values the hosts take as text are checked here too, so a bad one fails the launch
    // before any process starts (the launcher also fails it when a host refuses).
    const str = (n: string) => p.values[n] as string | undefined;
    bytesOption(str("mem"), "mem");
    bytesOption(str("log-buffer-bytes"), "log-buffer-bytes");
    slowdownOption(str("backup-slowdown"), "backup-slowdown");
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
      mem: p.values.mem as string | undefined,
      disk: p.values.disk as string | undefined,
      diskMode: diskModeOption(p.values["disk-mode"] as string | undefined),
      backupReads: !!p.values["backup-reads"],
      backupSlowdown: p.values["backup-slowdown"] as string | undefined,
      lagThresholdMs: opt("lag-threshold-ms"),
      logBufferBytes: p.values["log-buffer-bytes"] as string | undefined,
      heartbeatMs: opt("heartbeat-ms", 1),
      timeoutMs: opt("timeout-ms", 1),
      quiet: !!p.values.quiet,
      interpret: !!p.values.interpret,
      listen: p.values.listen as string | undefined,
    });
  },
};

function diskModeOption(v: string | undefined): "shared" | "non-shared" | undefined {
  if (v === undefined || v === "shared" || v === "non-shared") return v;
  throw new UsageError(`--disk-mode takes shared or non-shared, got "${v}"`);
}

