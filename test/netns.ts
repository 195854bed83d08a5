// Separate machines for the tests, as Linux network namespaces joined by veth pairs to one
// bridge in the test's own namespace (which plays the sink's machine). Needs root and
// iproute2; `netnsProblem()` says why it cannot run here (the tests then skip with it).
// Names carry a random tag, so runs side by side do not meet; `remove()` deletes every
// namespace, link and bridge made, and runs on process exit too if a test never got to it.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface Machine {
  name: string;
  ns: string;
  ip: string;
  /** The veth end inside the namespace, and the one on the bridge. */
  inner: string;
  outer: string;
}

export interface Lab {
  subnet: string;
  bridgeIp: string;
  machines: Map<string, Machine>;
  /** `ip netns exec NS` for a command run on machine `name`. */
  exec(name: string): string[];
  /** Runs `ip ARGS` (in machine `name`'s namespace when given); throws with ip's message. */
  ip(args: string[], name?: string): void;
  /**
   * Silently drops everything machine `name` sends and receives: tc netem loss 100% on both
   * ends of its link, or, where tc or the kernel's netem is missing, its link set down.
   * Returns how.
   */
  cut(name: string): "netem" | "link down";
  heal(name: string): void;
  /** Machine `a` silently drops what it sends to machine `b` (a one-way blackhole route: b's packets arrive, a's answers vanish). */
  blackhole(a: string, b: string): void;
  remove(): void;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

export function hasTc(): boolean {
  return spawnSync("tc", ["-V"], { stdio: "ignore" }).status === 0;
}

/** Why namespaces cannot be made here, or undefined. */
export function netnsProblem(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux's";
  if (process.getuid?.() !== 0) return "creating network namespaces needs root";
  if (spawnSync("ip", ["-V"], { stdio: "ignore" }).status !== 0) return "no ip command (iproute2)";
  const probe = `ftvm-probe-${randomBytes(3).toString("hex")}`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (r.status !== 0) return `ip netns add is not allowed here: ${r.stderr.trim()}`;
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}

/** Makes a bridge and one namespace per name, each with an address on the bridge's subnet. */
export function makeLab(names: string[]): Lab {
  const tag = randomBytes(2).toString("hex");
  // A /24 no interface here uses yet.
  const used = execFileSync("ip", ["-4", "-o", "addr"], { encoding: "utf8" });
  let third = 0;
  for (let i = 0; i < 50 && third === 0; i++) {
    const x = 100 + Math.floor(Math.random() * 150);
    if (!used.includes(`10.77.${x}.`)) third = x;
  }
  if (third === 0) throw new Error("no free 10.77.x.0/24 subnet for the test network");
  const subnet = `10.77.${third}`;
  const bridge = `fbr${tag}`;
  const machines = new Map<string, Machine>();
  const cutHow = new Map<string, "netem" | "link down">();
  const lab: Lab = {
    subnet,
    bridgeIp: `${subnet}.1`,
    machines,
    exec: (name) => ["ip", "netns", "exec", machines.get(name)!.ns],
    ip(args, name) {
      run("ip", name ? ["netns", "exec", machines.get(name)!.ns, "ip", ...args] : args);
    },
    cut(name) {
      const m = machines.get(name)!;
      if (hasTc()) {
        try {
          run("tc", ["qdisc", "add", "dev", m.outer, "root", "netem", "loss", "100%"]);
          try {
            run("ip", ["netns", "exec", m.ns, "tc", "qdisc", "add", "dev", m.inner, "root", "netem", "loss", "100%"]);
          } catch (e) {
            spawnSync("tc", ["qdisc", "del", "dev", m.outer, "root"]);
            throw e;
          }
          cutHow.set(name, "netem");
          return "netem";
        } catch {
          // No netem in this kernel ("Specified qdisc kind is unknown"): take the link down instead.
        }
      }
      run("ip", ["link", "set", m.outer, "down"]);
      cutHow.set(name, "link down");
      return "link down";
    },
    heal(name) {
      const m = machines.get(name)!;
      if (cutHow.get(name) === "netem") {
        run("tc", ["qdisc", "del", "dev", m.outer, "root"]);
        run("ip", ["netns", "exec", m.ns, "tc", "qdisc", "del", "dev", m.inner, "root"]);
      } else run("ip", ["link", "set", m.outer, "up"]);
      cutHow.delete(name);
    },
    blackhole(a, b) {
      lab.ip(["route", "add", "blackhole", `${machines.get(b)!.ip}/32`], a);
    },
    remove() {
      for (const m of machines.values()) {
        spawnSync("ip", ["netns", "del", m.ns]);
        spawnSync("ip", ["link", "del", m.outer]);
      }
      spawnSync("ip", ["link", "del", bridge]);
      machines.clear();
      process.off("exit", lab.remove);
    },
  };
  process.on("exit", lab.remove);
  try {
    run("ip", ["link", "add", bridge, "type", "bridge"]);
    run("ip", ["addr", "add", `${lab.bridgeIp}/24`, "dev", bridge]);
    run("ip", ["link", "set", bridge, "up"]);
    names.forEach((name, i) => {
      const m: Machine = { name, ns: `ftvm-${tag}-${name}`, ip: `${subnet}.${11 + i}`, inner: `f${tag}${i}i`, outer: `f${tag}${i}o` };
      machines.set(name, m);
      run("ip", ["netns", "add", m.ns]);
      run("ip", ["link", "add", m.outer, "type", "veth", "peer", "name", m.inner]);
      run("ip", ["link", "set", m.inner, "netns", m.ns]);
      run("ip", ["link", "set", m.outer, "master", bridge, "up"]);
      lab.ip(["addr", "add", `${m.ip}/24`, "dev", m.inner], name);
      lab.ip(["link", "set", m.inner, "up"], name);
      lab.ip(["link", "set", "lo", "up"], name);
    });
  } catch (e) {
    lab.remove();
    throw e;
  }
  return lab;
}
