// `ftvm ft <prog>`: the whole FT cluster on this machine (src/host/launcher.ts). This
// file only defines the flags: each option's key is the ClusterOptions field it sets, so
// adding a flag is one entry in FT_OPTIONS (and the field in ClusterOptions).
import type { OptionDefs } from "./args.js";
import { checked, count, defineCommand, factor, size } from "./args.js";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import type { ClusterOptions } from "../host/launcher.js";
import { runCluster } from "../host/launcher.js";
import { resolveProgram } from "../host/program.js";

/** The flags of `ftvm ft`: key = the ClusterOptions field, value = how the flag reads and what it takes. */
export const FT_OPTIONS = {
  crashPrimaryAtIcount: { flags: "--crash-primary-at-icount <n>", help: "SIGKILL the primary when its guest reaches icount N (a primary that reaches N without a paired backup waits there for one)", parse: count() },
  crashPrimaryAfterMs: { flags: "--crash-primary-after-ms <t>", help: "SIGKILL the primary T ms after the pair is formed", parse: count() },
  crashBackupAtIcount: { flags: "--crash-backup-at-icount <n>", help: "SIGKILL the backup when its replay reaches icount N", parse: count() },
  crashBackupAfterMs: { flags: "--crash-backup-after-ms <t>", help: "SIGKILL the backup T ms after the pair is formed", parse: count() },
  crashArbiterAfterMs: { flags: "--crash-arbiter-after-ms <t>", help: "SIGKILL the arbiter T ms after the pair is formed (the launcher restarts it with its state file)", parse: count() },
  crashPrimaryEveryMs: { flags: "--crash-primary-every-ms <t>", help: "SIGKILL whichever host is primary every T ms", parse: count(1) },
  partitionAfterMs: { flags: "--partition-after-ms <t>", help: "cut the log channel between the hosts T ms after the pair is formed", parse: count() },
  dropChannelAfterMs: { flags: "--drop-channel-after-ms <t>", help: "drop the log channel's connection T ms after the pair is formed (a blip: the backup reconnects and catches up)", parse: count() },
  respawn: { flags: "--no-respawn", help: "do not start a new backup after a host fails (by default a new backup joins the survivor by clone, in a new epoch)" },
  disk: { flags: "--disk <image>", help: "a disk (make one with ftvm disk create), shared by default: the launcher serves it to whichever host is live; writes obey the output rule and carry the epoch" },
  diskMode: { flags: "--disk-mode <mode>", help: "non-shared: each host gets its own copy of IMAGE; at the end the image of the host that finished as the live primary is copied back over IMAGE", choices: ["shared", "non-shared"], defaultText: "shared" },
  backupReads: { flags: "--backup-reads", help: "non-shared: disk reads go into the log without their data (a CRC-32 instead); the backup reads its own image" },
  mem: { flags: "--mem <size>", help: "guest memory (e.g. 16MiB)", parse: checked(size), defaultText: "1MiB" },
  listen: { flags: "--listen <[host:]port>", help: "serve network clients through a virtual switch in this launcher: one address across failovers" },
  backupSlowdown: { flags: "--backup-slowdown <f>", help: "backups replay F times slower (1 to 100): the primary throttles itself once the lag passes --lag-threshold-ms", parse: checked(factor(1, 100)) },
  lagThresholdMs: { flags: "--lag-threshold-ms <t>", help: "the backup lag (ms of execution) above which the primary slows down", parse: count(), defaultText: "1000" },
  logBufferBytes: { flags: "--log-buffer-bytes <size>", help: "the primary's bound on unacknowledged log", parse: checked(size), defaultText: "64MiB" },
  heartbeatMs: { flags: "--heartbeat-ms <t>", help: "heartbeat interval", parse: count(1), default: HEARTBEAT_INTERVAL_MS_DEFAULT },
  timeoutMs: { flags: "--timeout-ms <t>", help: "the least silence (ms, counted only while the host runs) that makes a peer suspect; the detector adapts above it", parse: count(1), default: FAILURE_TIMEOUT_MS_DEFAULT },
  quiet: { flags: "--quiet", help: "no status lines, no host log lines" },
  interpret: { flags: "--interpret", help: "use the reference interpreter" },
} satisfies OptionDefs;

// Every key above must be a field of ClusterOptions: a typo'd key fails the type check here.
type FtKeys = keyof typeof FT_OPTIONS extends keyof ClusterOptions ? true : never;
const ftKeysAreClusterOptions: FtKeys = true;
void ftKeysAreClusterOptions;

export const ftCommand = defineCommand({
  name: "ft",
  summary: "run a program under FT: arbiter + primary + backup processes, crash them at will",
  args: [["<prog>", "a program: assembly (.s), an image (.ftb), or a bundled program's name"]],
  options: FT_OPTIONS,
  more: `Starts an arbiter, a primary and a backup as separate processes on loopback and shows
the guest's console output through a sink outside both hosts, with a status line per
host on a terminal. Ends when the guest halts (or on Ctrl-C) with a summary on stderr.
Console input does not reach the guest under ft (use ftvm run for that).

Times T count from the moment the pair is formed (the arbiter granted the first epoch to
a primary and its backup), not from the launch. A scripted kill never takes the last live
host: one that falls due while no backup is paired waits until one is. The arbiter keeps
its cluster id and epochs in a file in a temporary directory of this run; if it dies,
the launcher restarts it on the same port with that file.

While it runs: press p to crash the primary, b to crash the backup, a to crash the
arbiter, q to stop; or run "ftvm crash primary|backup|arbiter" in another terminal.`,
  run: (values, [program]) => runCluster({ ...(values as Partial<ClusterOptions>), program: resolveProgram(program) }),
});
