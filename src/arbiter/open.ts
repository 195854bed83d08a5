// Chooses the arbiter backend from its URL: ws://HOST:PORT is the embedded arbiter
// (`ftvm arbiter`, client.ts), etcd://HOST:PORT[,HOST:PORT...][/PREFIX] is etcd (etcd.ts).
import type { Arbiter } from "./api.js";
import { ArbiterClient } from "./client.js";
import { EtcdArbiter, parseEtcdUrl } from "./etcd.js";
import { log } from "../transport/channel.js";

export function isEtcdUrl(url: string): boolean {
  return url.startsWith("etcd://");
}

/** Why `url` names no arbiter, or undefined (the CLI says it in one line, exit 2). */
export function arbiterUrlProblem(url: string): string | undefined {
  if (isEtcdUrl(url)) {
    const u = parseEtcdUrl(url);
    return typeof u === "string" ? u : undefined;
  }
  if (!/^wss?:\/\/[^/\s]+/.test(url)) return `an arbiter is ws://HOST:PORT (the embedded arbiter) or etcd://HOST:PORT[,HOST:PORT...][/PREFIX], got "${url.slice(0, 100)}"`;
  return undefined;
}

/** `secret` authenticates to the embedded arbiter; etcd is reached without it (see docs/etcd.md). */
export function openArbiter(url: string, secret: string, cluster?: string): Arbiter {
  return isEtcdUrl(url) ? new EtcdArbiter(url, cluster, undefined, (line) => log(line)) : new ArbiterClient(url, secret, cluster);
}
