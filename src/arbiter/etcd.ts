// The arbiter's state in etcd (Raft: it survives the loss of a minority of its members),
// behind the same interface as the embedded arbiter (api.ts). Selected by
// `--arbiter etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
//
// Keys, under PREFIX (default "ftvm"; one prefix per cluster):
//   PREFIX/cluster   the cluster id, created once (a transaction that writes it only if
//                    the key was never created) by the first client that finds none and
//                    belongs to no cluster yet (`ftvm ft` creates it before any host starts)
//   PREFIX/epoch     the state in the embedded arbiter's file format (core.ts:
//                    {"version":1,"cluster","epoch","members","holder"}); absent = epoch 0
//
// Test-and-set of epoch e+1 is one etcd transaction: read both keys at one revision,
// decide with the same pure rule as the embedded arbiter (core.ts testAndSet: exactly the
// next epoch, claimed by a member of the current one), then write the next state only if
// the epoch key's mod revision is still the one read and the cluster key still holds this
// cluster. A conflict (someone else wrote in between) reads again and decides again: the
// loser then sees the winner's epoch and is refused; a retry of a request whose answer was
// lost finds its own grant and wins again (idempotent, as in core.ts). The fencing tokens
// stay the epochs: sinks, disk and switch compare epochs as before, and whoever must
// confirm an epoch (the switch, the launcher) reads the epoch key, linearizably.
//
// A client that belongs to a cluster and finds NO cluster key does not create one: etcd
// lost its data (or the prefix is wrong), and a fresh key would let epoch 1 be granted a
// second time. It is refused like an arbiter of another cluster (WrongClusterError).
//
// Each endpoint gets its own etcd3 client with the library's retries and circuit breakers
// switched off: this file decides, with the named bounds below, how long one endpoint may
// take and which endpoint to ask next (the one that answered last first, those whose last
// request failed last), so a paused or partitioned member costs one
// ETCD_ENDPOINT_TIMEOUT_MS, not a breaker's 5 s. An endpoint that fails while another
// answers is said once in the host's log, and again when it answers again.
//
// etcd3 (and gRPC under it) is loaded on first use, so commands that use the embedded
// arbiter do not pay for loading it.
import type { Etcd3, IOptions } from "etcd3";
import { randomBytes } from "node:crypto";
import type { Arbiter } from "./api.js";
import { ARBITER_REQUEST_TIMEOUT_MS, ARBITER_RETRY_MS, WrongClusterError } from "./client.js";
import type { ArbiterState, TasRequest, TasResult } from "./core.js";
import { clusterIdProblem, formatArbiterState, initialState, parseArbiterState, testAndSet } from "./core.js";

/** One endpoint's deadline for one request; past it the next endpoint is asked. */
export const ETCD_ENDPOINT_TIMEOUT_MS = 700;
/** Connecting to one endpoint (gRPC dial), at most. */
export const ETCD_DIAL_TIMEOUT_MS = 1000;
/** gRPC's reconnect back-off towards an endpoint that was down, at most (its default grows to 120 s). */
export const ETCD_RECONNECT_BACKOFF_MS_MAX = 1000;
/** Transactions lost to a concurrent writer in one test-and-set before it gives up this attempt. */
export const ETCD_TAS_CONFLICTS_MAX = 10;
/** Endpoints in one URL. */
export const ETCD_ENDPOINTS_MAX = 16;
/** A key prefix's length. */
export const ETCD_PREFIX_CHARS_MAX = 200;
/** The prefix when the URL names none. */
export const ETCD_PREFIX_DEFAULT = "ftvm";
/** A value under the prefix larger than this is not ours (a state is a few hundred bytes). */
export const ETCD_VALUE_BYTES_MAX = 64 * 1024;

export interface EtcdUrl {
  endpoints: { host: string; port: number }[];
  prefix: string;
}

const PREFIX_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

/** Parses etcd://HOST:PORT[,HOST:PORT...][/PREFIX]; returns a sentence saying what is wrong otherwise. */
export function parseEtcdUrl(url: string): EtcdUrl | string {
  const shape = "etcd://HOST:PORT[,HOST:PORT...][/PREFIX]";
  const m = /^etcd:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) return `an etcd arbiter is ${shape}, got "${url.slice(0, 100)}"`;
  const parts = m[1].split(",");
  if (parts.length > ETCD_ENDPOINTS_MAX) return `at most ${ETCD_ENDPOINTS_MAX} etcd endpoints, got ${parts.length}`;
  const endpoints: EtcdUrl["endpoints"] = [];
  for (const p of parts) {
    const hp = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(p);
    if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) return `"${p.slice(0, 100)}" is not HOST:PORT (port 1 to 65535) in ${shape}`;
    endpoints.push({ host: hp[1], port: Number(hp[2]) });
  }
  const prefix = (m[2] ?? "").replace(/\/+$/, "") || ETCD_PREFIX_DEFAULT;
  if (prefix.length > ETCD_PREFIX_CHARS_MAX || !PREFIX_RE.test(prefix))
    return `the key prefix "${prefix.slice(0, 100)}" is not 1 to ${ETCD_PREFIX_CHARS_MAX} characters of letters, digits, "_", ".", "-" in "/"-separated parts`;
  return { endpoints, prefix };
}

export function formatEtcdUrl(u: EtcdUrl): string {
  return `etcd://${u.endpoints.map((e) => `${e.host}:${e.port}`).join(",")}/${u.prefix}`;
}

/** What a read of the prefix found: the state, and the epoch key's mod revision ("0": no epoch key yet). */
interface Snapshot {
  state: ArbiterState;
  epochRev: string;
}

/** etcd3's fault handling switched off (one attempt, no breaker): see the file's comment. */
const passThrough = { execute: (fn: (ctx: { signal: AbortSignal }) => unknown) => Promise.resolve().then(() => fn({ signal: new AbortController().signal })) };

export class EtcdArbiter implements Arbiter {
  private readonly where: EtcdUrl;
  private clients?: Etcd3[];
  /** The endpoint that answered last: asked first next time. */
  private preferred = 0;
  /** Endpoints that failed while another answered (said once, until they answer again). */
  private readonly failing = new Set<number>();
  /** Endpoints whose last request failed: asked after the others (a paused leader costs its timeout once, not per attempt). */
  private readonly suspect = new Set<number>();
  private closed = false;

  constructor(
    readonly url: string,
    public cluster?: string,
    /** A new cluster id, for a prefix that holds none yet (only used by a client of no cluster). */
    private readonly newClusterId: () => string = () => randomBytes(8).toString("hex"),
    /** Where to say that an endpoint stopped (or started again) answering while others answer. */
    private readonly say: (line: string) => void = () => undefined,
  ) {
    const u = parseEtcdUrl(url);
    if (typeof u === "string") throw new Error(u);
    this.where = u;
    // Load the client and connect to every endpoint now, not at the first test-and-set:
    // a backup that knows its cluster asks etcd first when its primary dies, and loading
    // gRPC and dialling then would add a few hundred ms to the failover.
    void this.warm();
  }

  /** Loads etcd3 and opens a connection to each endpoint (a read of the cluster key; errors do not matter here). */
  private async warm(): Promise<void> {
    try {
      const clients = await this.etcd();
      await Promise.all(clients.map((c) => c.get(this.clusterKey).options({ deadline: new Date(Date.now() + ETCD_DIAL_TIMEOUT_MS) }).exec().catch(() => undefined)));
    } catch {
      // Unreachable now: the real requests will say so, with their reasons.
    }
  }

  get prefix(): string {
    return this.where.prefix;
  }

  private get clusterKey(): string {
    return `${this.where.prefix}/cluster`;
  }

  private get epochKey(): string {
    return `${this.where.prefix}/epoch`;
  }

  private async etcd(): Promise<Etcd3[]> {
    if (this.clients) return this.clients;
    const { Etcd3 } = await import("etcd3");
    if (this.clients) return this.clients;
    if (this.closed) throw new Error(`arbiter ${this.url}: closed`);
    const noRetry = { host: () => passThrough, global: passThrough } as unknown as IOptions["faultHandling"];
    this.clients = this.where.endpoints.map(
      (e) =>
        new Etcd3({
          hosts: `http://${e.host}:${e.port}`,
          dialTimeout: ETCD_DIAL_TIMEOUT_MS,
          faultHandling: noRetry,
          grpcOptions: { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": ETCD_RECONNECT_BACKOFF_MS_MAX },
        }),
    );
    return this.clients;
  }

  /**
   * Runs `op` on one endpoint after another, starting with the one that answered last,
   * each within ETCD_ENDPOINT_TIMEOUT_MS, until one answers or `budgetMs` is spent.
   */
  private async onSomeEndpoint<T>(what: string, budgetMs: number, op: (c: Etcd3, deadline: Date) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`arbiter ${this.url}: closed`);
    const clients = await this.etcd();
    const end = Date.now() + budgetMs;
    const errors: string[] = [];
    const failed: number[] = [];
    const name = (k: number) => `${this.where.endpoints[k].host}:${this.where.endpoints[k].port}`;
    // From the one that answered last, the suspects last (a stable sort keeps that order among each).
    const order = clients.map((_, i) => (this.preferred + i) % clients.length).sort((a, b) => Number(this.suspect.has(a)) - Number(this.suspect.has(b)));
    for (const k of order) {
      const left = end - Date.now();
      if (left <= 0) break;
      try {
        const r = await op(clients[k], new Date(Date.now() + Math.min(ETCD_ENDPOINT_TIMEOUT_MS, left)));
        this.preferred = k;
        this.suspect.delete(k);
        // A member that fails while others answer is partitioned, paused or dead: worth a
        // line in the host's log (once), as is its return.
        if (this.failing.delete(k)) this.say(`etcd endpoint ${name(k)} answers again`);
        for (const j of failed)
          if (!this.failing.has(j)) {
            this.failing.add(j);
            this.say(`etcd endpoint ${errors[failed.indexOf(j)]}; ${name(k)} answered instead`);
          }
        return r;
      } catch (e) {
        failed.push(k);
        this.suspect.add(k);
        errors.push(`${name(k)} did not answer ${what} (${firstLine((e as Error).message)})`);
      }
    }
    // All failed: the next attempt asks them all again, in the same order.
    throw new Error(`arbiter ${this.url}: ${what}: no etcd endpoint answered (${errors.join("; ") || `within ${budgetMs} ms`})`);
  }

  /** Both keys at one revision; creates the cluster key when this client belongs to no cluster and there is none. */
  private async read(budgetMs: number): Promise<Snapshot> {
    const end = Date.now() + budgetMs;
    // Each step gets at least one endpoint's timeout, even past the budget: on a loaded
    // machine the read alone could use the whole budget, and the creation that follows was
    // then given a few milliseconds ("Deadline exceeded after 0.008 s") on every retry.
    const left = () => Math.max(ETCD_ENDPOINT_TIMEOUT_MS, end - Date.now());
    for (let created = false; ; created = true) {
      const r = await this.onSomeEndpoint("read", left(), (c, deadline) => c.getAll().prefix(`${this.where.prefix}/`).options({ deadline }).exec());
      const kv = (k: string) => r.kvs.find((x) => x.key.toString() === k);
      const ck = kv(this.clusterKey);
      const ek = kv(this.epochKey);
      for (const x of [ck, ek]) if (x && x.value.length > ETCD_VALUE_BYTES_MAX) throw new Error(`arbiter ${this.url}: ${x.key.toString()} holds ${x.value.length} bytes, not an ftvm arbiter's`);
      if (!ck) {
        if (this.cluster !== undefined)
          throw new WrongClusterError(this.url, "(none)", this.cluster, `etcd at ${this.url} holds no cluster under "${this.where.prefix}/" (it lost its data, or the prefix is wrong); this host of cluster ${this.cluster} can never be granted an epoch there`);
        if (created) throw new Error(`arbiter ${this.url}: the cluster key ${this.clusterKey} vanished right after it was created`);
        await this.createCluster(left());
        continue;
      }
      const cluster = ck.value.toString();
      const bad = clusterIdProblem(cluster);
      if (bad) throw new Error(`arbiter ${this.url}: ${this.clusterKey}: ${bad}`);
      if (!ek) return { state: initialState(cluster), epochRev: "0" };
      const st = parseArbiterState(ek.value.toString());
      if (typeof st === "string") throw new Error(`arbiter ${this.url}: ${this.epochKey} is not an arbiter state: ${st}`);
      if (st.cluster !== cluster) throw new Error(`arbiter ${this.url}: ${this.epochKey} is of cluster ${st.cluster} but ${this.clusterKey} says ${cluster}`);
      return { state: st, epochRev: ek.mod_revision };
    }
  }

  /** Writes a new cluster id, only if the key was never created (another client may win: then its id stands). */
  private async createCluster(budgetMs: number): Promise<void> {
    const id = this.newClusterId();
    const bad = clusterIdProblem(id);
    if (bad) throw new Error(`new cluster id: ${bad}`);
    await this.onSomeEndpoint("create the cluster", budgetMs, (c, deadline) => c.if(this.clusterKey, "Create", "==", 0).then(c.put(this.clusterKey).value(id)).options({ deadline }).commit());
  }

  /** Learns the cluster from a first answer, or refuses an answer of another cluster. */
  private check(s: ArbiterState): ArbiterState {
    if (this.cluster === undefined) this.cluster = s.cluster;
    else if (s.cluster !== this.cluster) throw new WrongClusterError(this.url, s.cluster, this.cluster);
    return s;
  }

  async state(timeoutMs = ARBITER_REQUEST_TIMEOUT_MS): Promise<ArbiterState> {
    return this.check((await this.read(timeoutMs)).state);
  }

  async testAndSet(r: TasRequest, timeoutMs = ARBITER_REQUEST_TIMEOUT_MS): Promise<TasResult> {
    const end = Date.now() + timeoutMs;
    for (let conflicts = 0; conflicts < ETCD_TAS_CONFLICTS_MAX; conflicts++) {
      const snap = await this.read(Math.max(1, end - Date.now()));
      this.check(snap.state);
      const out = testAndSet(snap.state, { ...r, cluster: r.cluster ?? this.cluster });
      // Refused, or the idempotent retry of a grant already made: nothing to write.
      if (!out.result.granted || out.state === snap.state) return out.result;
      const txn = await this.onSomeEndpoint(`test-and-set of epoch ${r.epoch}`, Math.max(1, end - Date.now()), (c, deadline) =>
        c
          .if(this.epochKey, "Mod", "==", snap.epochRev)
          .and(this.clusterKey, "Value", "==", snap.state.cluster)
          .then(c.put(this.epochKey).value(formatArbiterState(out.state)))
          .options({ deadline })
          .commit(),
      );
      if (txn.succeeded) return out.result;
    }
    throw new Error(`arbiter ${this.url}: test-and-set of epoch ${r.epoch} lost ${ETCD_TAS_CONFLICTS_MAX} races with other writers in a row`);
  }

  async testAndSetPatiently(r: TasRequest, onRetry?: (e: Error) => void): Promise<TasResult> {
    return this.patiently(() => this.testAndSet(r), onRetry);
  }

  async statePatiently(onRetry?: (e: Error) => void): Promise<ArbiterState> {
    return this.patiently(() => this.state(), onRetry);
  }

  private async patiently<T>(f: () => Promise<T>, onRetry?: (e: Error) => void): Promise<T> {
    for (;;) {
      try {
        return await f();
      } catch (e) {
        if (e instanceof WrongClusterError || this.closed) throw e;
        onRetry?.(e as Error);
        await new Promise((res) => setTimeout(res, ARBITER_RETRY_MS));
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients ?? []) c.close();
  }
}

function firstLine(s: string): string {
  return s.split("\n")[0].slice(0, 200);
}
