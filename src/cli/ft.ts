// `ftvm ft <prog>`: the whole FT cluster on this machine (src/host/launcher.ts). This
// file only defines the flags: each option's key is the ClusterOptions field it sets, so
// adding a flag is one entry in FT_OPTIONS (and the field in ClusterOptions).
import type { OptionDefs } from "./args.js";
import { checked, count, defineCommand, factor, size } from "./args.js";
import { FAILURE_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT } from "../ft/detector.js";
import type { ClusterOptions } from "../host/launcher.js";
import { runCluster } from "../host/launcher.js";
import { resolveProgram } from "../host/program.js";
import { eventLine } from "../host/run-events.js";
import { isEtcdUrl } from "../arbiter/open.js";
import { UsageError } from "./args.js";
import { arbiterOption } from "./hosts.js";

/** `ftvm ft --arbiter` takes etcd only: the embedded arbiter is the launcher's own process. */
function etcdArbiter(text: string, flag: string): string {
  if (!isEtcdUrl(text)) throw new UsageError(`${flag}: ftvm ft runs its own embedded arbiter; ${flag} takes etcd://HOST:PORT[,HOST:PORT...][/PREFIX], got "${text.slice(0, 100)}"`);
  return arbiterOption(text, flag);
}

/** A TCP port, 0 meaning any unused one. */
function port(text: string, flag: string): number {
  const n = count()(text, flag);
  if (n > 65535) throw new UsageError(`${flag} takes a port from 0 to 65535, got ${n}`);
  return n;
}

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
  spare: { flags: "--no-spare", help: "do not keep a standby backup process ready (by default one is started while a pair runs, so a new backup joins at once instead of first starting a process)" },
  disk: { flags: "--disk <image>", help: "a disk (make one with ftvm disk create), shared by default: the launcher serves it to whichever host is live; writes obey the output rule and carry the epoch" },
  diskMode: { flags: "--disk-mode <mode>", help: "non-shared: each host gets its own copy of IMAGE; at the end the image of the host that finished as the live primary is copied back over IMAGE", choices: ["shared", "non-shared"], defaultText: "shared" },
  backupReads: { flags: "--backup-reads", help: "non-shared: disk reads go into the log without their data (a CRC-32 instead); the backup reads its own image" },
  mem: { flags: "--mem <size>", help: "guest memory (e.g. 16MiB)", parse: checked(size), defaultText: "1MiB" },
  stack: { flags: "--stack <size>", help: "the guest's stack region at the top of its memory", parse: checked(size), defaultText: "64KiB" },
  listen: { flags: "--listen <[host:]port>", help: "serve network clients through a virtual switch in this launcher: one address across failovers" },
  backupSlowdown: { flags: "--backup-slowdown <f>", help: "backups replay F times slower (1 to 100): the primary throttles itself once the lag passes --lag-threshold-ms", parse: checked(factor(1, 100)) },
  lagThresholdMs: { flags: "--lag-threshold-ms <t>", help: "the backup lag (ms of execution) above which the primary slows down", parse: count(), defaultText: "1000" },
  logBufferBytes: { flags: "--log-buffer-bytes <size>", help: "the primary's bound on unacknowledged log", parse: checked(size), defaultText: "64MiB" },
  heartbeatMs: { flags: "--heartbeat-ms <t>", help: "heartbeat interval", parse: count(1), default: HEARTBEAT_INTERVAL_MS_DEFAULT },
  timeoutMs: { flags: "--timeout-ms <t>", help: "the least silence (ms, counted only while the host runs) that makes a peer suspect; the detector adapts above it", parse: count(1), default: FAILURE_TIMEOUT_MS_DEFAULT },
  quiet: { flags: "--quiet", help: "no status lines, no host log lines" },
  record: { flags: "--record <file>", help: "write the run's log: one .ftlog stitched from what every live host logged (epoch boundaries in its header); ftvm replay FILE re-executes the whole run, across failovers" },
  traceDir: { flags: "--trace-dir <dir>", help: "every host writes its execution trace in DIR (a new or empty directory), named by host and epochs, e.g. host2-backup-e1-primary-e2.trace; the summary lists them; compare them with ftvm trace diff DIR" },
  unloggedRand: { flags: "--unlogged-rand", help: "UNSAFE, for demonstrations and tests: the primary reads RAND without logging it, so its backup diverges at the first RAND; the backup stops there and names the icount, the instruction and its source line" },
  onDivergence: { flags: "--on-divergence <policy>", help: "what follows a backup's divergence: it halts and a new backup is cloned from the primary, or the run stops", choices: ["halt-backup", "stop"], defaultText: "halt-backup" },
  arbiter: { flags: "--arbiter <url>", help: "the arbiter is etcd at etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (no arbiter process): the run founds a new cluster under PREFIX/<cluster id>; see docs/etcd.md", parse: etcdArbiter },
  etcd: { flags: "--etcd", help: "the arbiter is a local 3-member etcd cluster this run starts (Debian: apt-get install etcd-server) and stops at the end" },
  interpret: { flags: "--interpret", help: "use the reference interpreter" },
} satisfies OptionDefs;

/** Flags that are not one ClusterOptions field each: how the run is shown, trace spacing, console input. */
export const VIEW_OPTIONS = {
  json: { flags: "--json", help: "print the run's events on stdout, one JSON object per line (the guest's output is in them); see docs/events.md" },
  ui: { flags: "--ui [port]", help: "serve a live dashboard on http://127.0.0.1:PORT (none or 0: a free port; the URL is printed); see docs/dashboard.md", parse: port },
  uiHost: { flags: "--ui-host <host>", help: "serve the dashboard on HOST instead (then the URL carries an access token: anyone with it can crash hosts)" },
  report: { flags: "--report <file>", help: "at the end, write the run's dashboard as one self-contained page (opens offline)" },
} satisfies OptionDefs;

const FT_OTHER_OPTIONS = {
  traceInterval: { flags: "--trace-interval <n>", help: "instructions between periodic trace records", parse: count(1), defaultText: "100000" },
  stdin: { flags: "--no-stdin", help: "give the guest no console input (stdin is not read)" },
} satisfies OptionDefs;

/** --json, --ui, --ui-host and --report as launcher options (also for `ftvm demo`). */
export function viewOptions(v: Record<string, unknown>): Partial<ClusterOptions> {
  const out: Partial<ClusterOptions> = {};
  if (v.uiHost !== undefined && v.ui === undefined) throw new UsageError("--ui-host goes with --ui");
  if (v.ui !== undefined) out.ui = { port: v.ui === true ? 0 : (v.ui as number), ...(v.uiHost !== undefined ? { host: v.uiHost as string } : {}) };
  if (v.report !== undefined) {
    if (v.report === "") throw new UsageError("--report takes a file name");
    out.report = v.report as string;
  }
  if (v.json === true) {
    // Stdout carries only the events: the guest's output is in their console events.
    out.onEvent = (e) => process.stdout.write(eventLine(e));
    out.write = () => undefined;
  }
  return out;
}

// Every key above must be a field of ClusterOptions: a typo'd key fails the type check here.
type FtKeys = keyof typeof FT_OPTIONS extends keyof ClusterOptions ? true : never;
const ftKeysAreClusterOptions: FtKeys = true;
void ftKeysAreClusterOptions;

export const ftCommand = defineCommand({
  name: "ft",
  summary: "run a program under FT: arbiter + primary + backup processes, crash them at will",
  args: [["<prog>", "a program: assembly (.s), an image (.ftb), or a bundled program's name"]],
  options: { ...FT_OPTIONS, ...VIEW_OPTIONS, ...FT_OTHER_OPTIONS },
  more: `Starts an arbiter, a primary and a backup as separate processes on loopback and shows
the guest's console output through a sink outside both hosts, with a status line per
host on a terminal. Ends when the guest halts (or on Ctrl-C) with a summary on stderr.

Times T count from the moment the pair is formed (the arbiter granted the first epoch to
a primary and its backup), not from the launch. A scripted kill never takes the last live
host: one that falls due while no backup is paired waits until one is. The arbiter keeps
its cluster id and epochs in a file in a temporary directory of this run; if it dies,
the launcher restarts it on the same port with that file.

Console input: stdin is the guest's console input, as with ftvm run. The launcher holds
every byte until the primary's log holding it is acknowledged by the backup; after a
failover the new primary gets again exactly what the old one had not logged, and no
byte twice. --no-stdin gives the guest no input.

On a terminal, stdin carries both the guest's keys and the launcher's, behind an escape
prefix as in ssh: at the start of a line, ~p crashes the primary, ~b the backup, ~a the
arbiter, ~. (or ~q) stops, ~? lists these, ~~ types a ~; Ctrl-C stops; Ctrl-D at the
start of a line ends the guest's input. Or run "ftvm crash primary|backup|arbiter" in
another terminal.`,
  run: (values, [program]) => {
    const { json, ui, uiHost, report, traceInterval, stdin, ...rest } = values;
    return runCluster({
      ...(rest as Partial<ClusterOptions>),
      ...viewOptions({ json, ui, uiHost, report }),
      traceIntervalIcount: traceInterval as number | undefined,
      input: stdin === false ? undefined : process.stdin,
      program: resolveProgram(program),
    });
  },
});
