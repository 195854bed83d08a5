// Talking to the arbiter: test-and-set and reading the state. When the arbiter cannot be
// reached the caller must wait and retry (the paper: a host that cannot reach the shared
// storage waits), never assume it won.
//
// The client belongs to one cluster: given at construction, or learned from the first
// answer (a host started without --cluster joins whichever cluster its arbiter runs). From
// then on an answer from an arbiter of another cluster — one that lost its state and
// started afresh, or another cluster's arbiter at the same address — is refused with a
// WrongClusterError naming both ids, and never retried: that arbiter's epochs are not ours.
import { OperatingError } from "../base/errors.js";
import type { Channel } from "../transport/channel.js";
import { connect } from "../transport/channel.js";
import type { Arbiter } from "./api.js";
import type { ArbiterState, TasRequest, TasResult } from "./core.js";
import { otherCluster } from "./core.js";
import { ARBITER_SERVICE } from "./server.js";

/** How long one request may wait for its answer before the caller retries. */
export const ARBITER_REQUEST_TIMEOUT_MS = 2000;
/** Between attempts while the arbiter is unreachable. */
export const ARBITER_RETRY_MS = 100;

/** Exit code of a host refused by its arbiter (the same as src/host/errors.ts EXIT_REFUSED: this layer cannot import it). */
const EXIT_REFUSED = 3;

/** The arbiter answered, but it is another cluster's (see above). */
export class WrongClusterError extends OperatingError {
  constructor(
    readonly url: string,
    readonly theirs: string,
    readonly ours: string,
    /** Why, when not simply "another cluster's" (e.g. etcd holds no cluster at all under the prefix). */
    why?: string,
  ) {
    super(why ?? `${otherCluster(`the arbiter at ${url}`, theirs, ours)}: it lost its state or is another cluster's; this host can never be granted an epoch by it`, EXIT_REFUSED);
  }
}

export class ArbiterClient implements Arbiter {
  private ch: Channel | undefined;
  private nextId = 1;
  private waiting = new Map<number, (m: Record<string, unknown>) => void>();

  constructor(
    readonly url: string,
    private readonly secret: string,
    /** This host's cluster; undefined until the first answer teaches it. */
    public cluster?: string,
  ) {}

  private async channel(): Promise<Channel> {
    if (this.ch?.isOpen) return this.ch;
    const ch = await connect(this.url, this.secret, ARBITER_SERVICE);
    ch.on("message", (m) => {
      const cb = this.waiting.get(m.id as number);
      if (cb) {
        this.waiting.delete(m.id as number);
        cb(m);
      }
    });
    ch.on("close", () => {
      for (const cb of this.waiting.values()) cb({ t: "error", reason: "arbiter connection closed" });
      this.waiting.clear();
    });
    this.ch = ch;
    return ch;
  }

  private async request(m: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const ch = await this.channel();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`arbiter ${this.url}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        if (r.t === "error") reject(new Error(`arbiter ${this.url}: ${String(r.reason)}`));
        else resolve(r);
      });
      ch.send({ ...m, t: m.t as string, id });
    });
  }

  /** Learns the cluster from a first answer, or refuses an answer of another cluster. */
  private check(s: unknown): ArbiterState {
    const st = s as ArbiterState | undefined;
    if (!st || typeof st !== "object" || typeof st.cluster !== "string" || !Number.isSafeInteger(st.epoch) || !Array.isArray(st.members))
      throw new Error(`arbiter ${this.url}: an answer without a valid state (an arbiter older than protocol ${ARBITER_SERVICE}?)`);
    if (this.cluster === undefined) this.cluster = st.cluster;
    else if (st.cluster !== this.cluster) throw new WrongClusterError(this.url, st.cluster, this.cluster);
    return st;
  }

  async testAndSet(r: TasRequest, timeoutMs = ARBITER_REQUEST_TIMEOUT_MS): Promise<TasResult> {
    const req: Record<string, unknown> = { t: "tas", epoch: r.epoch, host: r.host, members: r.members };
    const cluster = r.cluster ?? this.cluster;
    if (cluster !== undefined) req.cluster = cluster;
    const a = (await this.request(req, timeoutMs)) as unknown as TasResult;
    this.check(a.state);
    return a;
  }

  /** Test-and-set, retrying while the arbiter is unreachable (never assumes a win); an arbiter of another cluster ends it (WrongClusterError). */
  async testAndSetPatiently(r: TasRequest, onRetry?: (e: Error) => void): Promise<TasResult> {
    for (;;) {
      try {
        return await this.testAndSet(r);
      } catch (e) {
        if (e instanceof WrongClusterError) throw e;
        onRetry?.(e as Error);
        await new Promise((res) => setTimeout(res, ARBITER_RETRY_MS));
      }
    }
  }

  async state(timeoutMs = ARBITER_REQUEST_TIMEOUT_MS): Promise<ArbiterState> {
    return this.check((await this.request({ t: "get" }, timeoutMs)).state);
  }

  /** The state, retrying while the arbiter is unreachable (a WrongClusterError ends it). */
  async statePatiently(onRetry?: (e: Error) => void): Promise<ArbiterState> {
    for (;;) {
      try {
        return await this.state();
      } catch (e) {
        if (e instanceof WrongClusterError) throw e;
        onRetry?.(e as Error);
        await new Promise((res) => setTimeout(res, ARBITER_RETRY_MS));
      }
    }
  }

  close(): void {
    this.ch?.close();
  }
}
