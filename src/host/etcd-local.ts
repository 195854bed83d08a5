// A local etcd cluster of N members on loopback, in a directory of its own: for
// `ftvm ft --etcd` (a user who wants to try FT over etcd) and for the tests, which kill,
// pause and restart its members. Uses the `etcd` binary on PATH (Debian's etcd-server).
//
// Ports: etcd cannot listen on port 0 and report the port back, so each member's client
// and peer ports are found free first (bind to 0, read, close) and then given to etcd.
// Another process may take a port in between: a member that then fails to bind makes the
// whole cluster start again on new ports (every member names every peer URL in
// --initial-cluster, so one member cannot move alone), up to ETCD_START_ATTEMPTS_MAX times.
// A test may place members elsewhere instead (`placement`: an address, fixed ports and a
// command prefix such as `ip netns exec NS`), as the network-namespace test does.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { get, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whole-cluster start attempts (new ports each time) before giving up. */
export const ETCD_START_ATTEMPTS_MAX = 5;
/** How long a starting cluster may take to report healthy members (a busy machine is slow). */
export const ETCD_START_TIMEOUT_MS = 30_000;
/** Between health polls while waiting. */
const ETCD_POLL_MS = 100;
/** One health request, at most. */
const ETCD_HEALTH_REQUEST_TIMEOUT_MS = 1000;
/** Members of a local cluster, at most (a demo and tests need 3). */
export const ETCD_LOCAL_MEMBERS_MAX = 7;

export interface EtcdMember {
  name: string;
  /** The address it listens on (127.0.0.1 unless placed elsewhere). */
  host: string;
  command: string[];
  clientPort: number;
  peerPort: number;
  /** The running process, or undefined while killed. */
  proc?: ChildProcess;
  /** Where this member's output goes (for a look when something fails). */
  logFile: string;
}

export interface LocalEtcd {
  dir: string;
  members: EtcdMember[];
  /** HOST:PORT,HOST:PORT,... of the client ports, for an etcd:// URL. */
  endpoints: string;
  /** etcd://endpoints/prefix. */
  url(prefix: string): string;
  kill(i: number): Promise<void>;
  /** SIGSTOP: the member keeps its sockets but answers nothing (slow or hung). */
  pause(i: number): void;
  resume(i: number): void;
  /** Starts a killed member again with its data directory; resolves once it reports healthy when `waitHealthy`. */
  restart(i: number, waitHealthy?: boolean): Promise<void>;
  /** Whether member i answers /health with true (it has a leader and can serve). */
  healthy(i: number): Promise<boolean>;
  /** The index of the member that is leader now, as the first member that answers says (undefined: none known). */
  leader(): Promise<number | undefined>;
  /** Kills every member and removes the directory. */
  stop(): Promise<void>;
}

/** Whether an `etcd` binary is on PATH (tests skip with a message when not). */
export function etcdAvailable(): boolean {
  const r = spawnSync("etcd", ["--version"], { stdio: "ignore" });
  return r.status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function health(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host, port, path: "/health", timeout: ETCD_HEALTH_REQUEST_TIMEOUT_MS }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** A member's own id and the leader it knows (etcd's JSON gateway; ids are decimal strings). */
function memberStatus(host: string, port: number): Promise<{ id: string; leader: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/v3/maintenance/status", method: "POST", timeout: ETCD_HEALTH_REQUEST_TIMEOUT_MS }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        try {
          const j = JSON.parse(body) as { header?: { member_id?: string }; leader?: string };
          resolve(j.header?.member_id && j.leader ? { id: j.header.member_id, leader: j.leader } : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end("{}");
  });
}

/** Whether setpriv is there to tie a member's life to this process's. */
const SETPRIV = spawnSync("setpriv", ["--version"], { stdio: "ignore" }).status === 0;

/** Processes started here and still running: killed if this process exits without stop() (without setpriv, only a normal exit). */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Where member i runs, when not on loopback: its address, fixed ports (a network namespace
 * of its own has them all free) and a command prefix (e.g. ["ip", "netns", "exec", NS]).
 */
export interface EtcdPlacement {
  host: string;
  clientPort: number;
  peerPort: number;
  command: string[];
}

export async function startLocalEtcd(o: { members?: number; dir?: string; placement?: (i: number) => EtcdPlacement } = {}): Promise<LocalEtcd> {
  const n = o.members ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > ETCD_LOCAL_MEMBERS_MAX) throw new Error(`a local etcd cluster has 1 to ${ETCD_LOCAL_MEMBERS_MAX} members, got ${n}`);
  if (!etcdAvailable()) throw new Error("no etcd binary on PATH (Debian: apt-get install etcd-server)");
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const p of running) p.kill("SIGKILL");
    });
  }
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "ftvm-etcd-"));
  let lastError = "";
  for (let attempt = 1; attempt <= ETCD_START_ATTEMPTS_MAX; attempt++) {
    const members: EtcdMember[] = [];
    for (let i = 0; i < n; i++) {
      const at = o.placement?.(i);
      members.push({
        name: `m${i + 1}`,
        host: at?.host ?? "127.0.0.1",
        command: at?.command ?? [],
        clientPort: at?.clientPort ?? (await freePort()),
        peerPort: at?.peerPort ?? (await freePort()),
        logFile: join(dir, `m${i + 1}.log`),
      });
    }
    const token = `ftvm-${process.pid}-${Date.now()}-${attempt}`;
    const initialCluster = members.map((m) => `${m.name}=http://${m.host}:${m.peerPort}`).join(",");
    const args = (m: EtcdMember) => [
      "--name", m.name,
      "--data-dir", join(dir, m.name),
      "--listen-client-urls", `http://${m.host}:${m.clientPort}`,
      "--advertise-client-urls", `http://${m.host}:${m.clientPort}`,
      "--listen-peer-urls", `http://${m.host}:${m.peerPort}`,
      "--initial-advertise-peer-urls", `http://${m.host}:${m.peerPort}`,
      "--initial-cluster", initialCluster,
      "--initial-cluster-token", token,
      "--initial-cluster-state", "new",
      "--log-level", "warn",
    ];
    const launch = (m: EtcdMember) => {
      mkdirSync(join(dir, m.name), { recursive: true });
      const fd = openSync(m.logFile, "a");
      // setpriv (util-linux) makes the kernel SIGKILL the member when this process dies in
      // any way, SIGKILL included: no etcd outlives the run that started it.
      const [cmd, ...pre] = [...m.command, ...(SETPRIV ? ["setpriv", "--pdeathsig", "KILL"] : []), "etcd"];
      const p = spawn(cmd, [...pre, ...args(m)], { stdio: ["ignore", fd, fd] });
      closeSync(fd);
      running.add(p);
      p.on("exit", () => {
        running.delete(p);
        if (m.proc === p) m.proc = undefined;
      });
      m.proc = p;
    };
    for (const m of members) launch(m);
    const start = Date.now();
    let failed: string | undefined;
    for (;;) {
      const dead = members.find((m) => !m.proc);
      if (dead) {
        failed = `member ${dead.name} exited while starting: ${tail(dead.logFile)}`;
        break;
      }
      const h = await Promise.all(members.map((m) => health(m.host, m.clientPort)));
      if (h.every(Boolean)) break;
      if (Date.now() - start > ETCD_START_TIMEOUT_MS) {
        failed = `not healthy within ${ETCD_START_TIMEOUT_MS} ms: ${members.map((m) => `${m.name}: ${tail(m.logFile)}`).join(" | ")}`;
        break;
      }
      await new Promise((r) => setTimeout(r, ETCD_POLL_MS));
    }
    if (failed === undefined) {
      const cluster: LocalEtcd = {
        dir,
        members,
        endpoints: members.map((m) => `${m.host}:${m.clientPort}`).join(","),
        url: (prefix) => `etcd://${cluster.endpoints}/${prefix}`,
        async kill(i) {
          const p = members[i].proc;
          if (!p) return;
          const gone = new Promise((r) => p.once("exit", r));
          p.kill("SIGKILL");
          await gone;
        },
        pause: (i) => void members[i].proc?.kill("SIGSTOP"),
        resume: (i) => void members[i].proc?.kill("SIGCONT"),
        async restart(i, waitHealthy = true) {
          const m = members[i];
          if (m.proc) return;
          launch(m);
          const t0 = Date.now();
          while (waitHealthy && !(await health(m.host, m.clientPort))) {
            if (!m.proc) throw new Error(`etcd member ${m.name} exited on restart: ${tail(m.logFile)}`);
            if (Date.now() - t0 > ETCD_START_TIMEOUT_MS) throw new Error(`etcd member ${m.name} not healthy ${ETCD_START_TIMEOUT_MS} ms after its restart`);
            await new Promise((r) => setTimeout(r, ETCD_POLL_MS));
          }
        },
        healthy: (i) => health(members[i].host, members[i].clientPort),
        async leader() {
          for (const m of members) {
            if (!m.proc) continue;
            const s = await memberStatus(m.host, m.clientPort);
            if (!s?.leader) continue;
            for (const [i, x] of members.entries()) if (x.proc && (await memberStatus(x.host, x.clientPort))?.id === s.leader) return i;
          }
          return undefined;
        },
        async stop() {
          await Promise.all(members.map((_, i) => cluster.kill(i)));
          if (!o.dir) rmSync(dir, { recursive: true, force: true });
        },
      };
      return cluster;
    }
    lastError = failed;
    for (const m of members) m.proc?.kill("SIGKILL");
    await Promise.all(members.map((m) => (m.proc ? new Promise((r) => m.proc!.once("exit", r)) : undefined)));
    for (const m of members) rmSync(join(dir, m.name), { recursive: true, force: true });
  }
  if (!o.dir) rmSync(dir, { recursive: true, force: true });
  throw new Error(`could not start a local etcd cluster in ${ETCD_START_ATTEMPTS_MAX} attempts; last: ${lastError}`);
}

/** The last lines of a member's log, for an error message. */
function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-2).join(" / ").slice(0, 400);
  } catch {
    return "(no log)";
  }
}
