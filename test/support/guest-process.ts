// A guest server (programs/redis.s and the like) started as a real `ftvm` process for
// end-to-end tests: `ftvm run`, `record` or `ft` listening on port 0, the port read back
// from what the process prints (no port picked beforehand that another process could
// take meanwhile), ready once the guest says so.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ftvmArgs } from "./ftvm-args.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface GuestProcess {
  child: ChildProcess;
  /** Where network clients connect (the guest's NIC, or under `ft` the virtual switch). */
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Ctrl-C; resolves with the exit code (under `ft` once the launcher printed its summary). */
  stop(): Promise<number | null>;
}

/** What the process prints once clients may connect: `run`/`record` log "listening on HOST:PORT", `ft` "network clients connect to HOST:PORT". */
const LISTENING = /(?:listening on|network clients connect to) [^\s]+:(\d+)/;

/**
 * Starts `ftvm <command> <program> --listen 127.0.0.1:0 ...args` and resolves once the
 * port is known and stdout holds `ready` (for redis.s: "redis.s: ready").
 */
export async function startGuestProcess(command: "run" | "record" | "ft", program: string, args: string[], ready = "redis.s: ready"): Promise<GuestProcess> {
  const child = spawn(process.execPath, [...ftvmArgs(), command, program, "--listen", "127.0.0.1:0", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const look = () => {
      const m = LISTENING.exec(err);
      if (m && out.includes(ready)) resolve(Number(m[1]));
    };
    child.stderr!.on("data", (d) => {
      err += d;
      look();
    });
    child.stdout!.on("data", (d) => {
      out += d;
      look();
    });
    void exited.then((code) => reject(new Error(`ftvm ${command} exited (${code}) before it was ready: ${err}`)));
  });
  return {
    child,
    port,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill("SIGINT");
      return exited;
    },
  };
}
