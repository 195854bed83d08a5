// Talking to the arbiter: test-and-set and reading the state. When the arbiter cannot be
// reached the caller must wait and retry (the paper: a host that cannot reach the shared
// storage waits), never assume it won.
import type { Channel } from "../transport/channel.js";
import { connect } from "../transport/channel.js";
import type { ArbiterState, TasRequest, TasResult } from "./core.js";
import { ARBITER_SERVICE } from "./server.js";

export class ArbiterClient {
  private ch: Channel | undefined;
  private nextId = 1;
  private waiting = new Map<number, (m: Record<string, unknown>) => void>();

  constructor(
    readonly url: string,
    private readonly secret: string,
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

  async testAndSet(r: TasRequest, timeoutMs = 2000): Promise<TasResult> {
    return (await this.request({ t: "tas", ...r }, timeoutMs)) as unknown as TasResult;
  }

  /** Test-and-set, retrying while the arbiter is unreachable (never assumes a win). */
  async testAndSetPatiently(r: TasRequest, onRetry?: (e: Error) => void): Promise<TasResult> {
    for (;;) {
      try {
        return await this.testAndSet(r);
      } catch (e) {
        onRetry?.(e as Error);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }

  async state(timeoutMs = 2000): Promise<ArbiterState> {
    return (await this.request({ t: "get" }, timeoutMs)).state as ArbiterState;
  }

  /** The state, retrying while the arbiter is unreachable (a flood of strangers at its port may cut a handshake off). */
  async statePatiently(onRetry?: (e: Error) => void): Promise<ArbiterState> {
    for (;;) {
      try {
        return await this.state();
      } catch (e) {
        onRetry?.(e as Error);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }

  close(): void {
    this.ch?.close();
  }
}
