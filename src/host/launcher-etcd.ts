// The etcd part of `ftvm ft --arbiter etcd://...` and `ftvm ft --etcd`: instead of
// spawning its embedded arbiter, the launcher founds a new cluster in etcd, under a key
// prefix of its own (the user's prefix, or "ftvm", then the new cluster id): every run is
// a new cluster, as with the embedded arbiter's fresh state file, and runs sharing one
// etcd never meet. With --etcd it first starts a local 3-member etcd cluster (see
// etcd-local.ts) in a temporary directory and stops it at the end.
import { randomBytes } from "node:crypto";
import { EtcdArbiter, formatEtcdUrl, parseEtcdUrl } from "../arbiter/etcd.js";
import { type LocalEtcd, startLocalEtcd } from "./etcd-local.js";
import { HostError } from "./errors.js";

/** How long the launcher tries to found its cluster in etcd before giving up (etcd may be electing a leader). */
export const ETCD_FOUND_TIMEOUT_MS = 15_000;
/** Members of the cluster `ftvm ft --etcd` starts. */
export const ETCD_LOCAL_MEMBERS = 3;
/** A bad option: exit 2, as for a usage error; etcd unreachable: exit 1. */
const EXIT_BAD_OPTION = 2;
const EXIT_FAIL = 1;

export interface EtcdForRun {
  /** The URL the hosts get: the endpoints and this run's own prefix. */
  url: string;
  cluster: string;
  /** The local cluster started for --etcd. */
  local?: LocalEtcd;
  close(): Promise<void>;
}

/** Founds this run's cluster in etcd (`base` is the user's etcd:// URL; undefined with --etcd). */
export async function etcdForRun(base: string | undefined, say: (s: string) => void): Promise<EtcdForRun> {
  let local: LocalEtcd | undefined;
  if (base === undefined) {
    try {
      local = await startLocalEtcd({ members: ETCD_LOCAL_MEMBERS });
    } catch (e) {
      throw new HostError(`--etcd: ${(e as Error).message}`, EXIT_FAIL);
    }
    base = local.url("ftvm");
    say(`ftvm ft: started a local ${ETCD_LOCAL_MEMBERS}-member etcd cluster at ${local.endpoints} (data in ${local.dir}, removed at the end)\n`);
  }
  const u = parseEtcdUrl(base);
  if (typeof u === "string") {
    await local?.stop();
    throw new HostError(`--arbiter: ${u}`, EXIT_BAD_OPTION);
  }
  const cluster = randomBytes(8).toString("hex");
  const url = formatEtcdUrl({ ...u, prefix: `${u.prefix}/${cluster}` });
  const founder = new EtcdArbiter(url, undefined, () => cluster);
  const start = Date.now();
  try {
    for (;;) {
      try {
        const s = await founder.state();
        // A prefix that already held a cluster (a random id met twice) is not ours to serve.
        if (s.cluster !== cluster || s.epoch !== 0) throw new HostError(`etcd at ${url} already holds cluster ${s.cluster} at epoch ${s.epoch}`, EXIT_FAIL);
        break;
      } catch (e) {
        if (e instanceof HostError || Date.now() - start > ETCD_FOUND_TIMEOUT_MS) throw e instanceof HostError ? e : new HostError(`cannot create this run's cluster in etcd within ${ETCD_FOUND_TIMEOUT_MS} ms: ${(e as Error).message}`, EXIT_FAIL);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (e) {
    founder.close();
    await local?.stop();
    throw e;
  }
  founder.close();
  say(`ftvm ft: the arbiter is etcd: cluster ${cluster} under ${url}\n`);
  return { url, cluster, local, close: async () => await local?.stop() };
}
