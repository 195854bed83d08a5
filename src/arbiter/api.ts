// What hosts, the switch and the launcher need from an arbiter, whichever backend keeps
// its state: the embedded arbiter (ws://, client.ts talking to server.ts) or etcd
// (etcd://, etcd.ts). Both give the same guarantees: test-and-set of exactly the next
// epoch, granted at most once per cluster and durable before it is answered; the state
// read back as the backend holds it now; and a WrongClusterError (never retried) for an
// arbiter whose history is not this client's cluster's.
import type { ArbiterState, TasRequest, TasResult } from "./core.js";

export interface Arbiter {
  /** Where the arbiter is, as given (ws://HOST:PORT or etcd://HOST:PORT,...[/PREFIX]). */
  readonly url: string;
  /** This client's cluster; undefined until the first answer teaches it. */
  cluster?: string;
  /** One test-and-set attempt; throws when the arbiter could not be asked (the caller retries). */
  testAndSet(r: TasRequest, timeoutMs?: number): Promise<TasResult>;
  /** Test-and-set, retrying while the arbiter is unreachable (never assumes a win); a WrongClusterError ends it. */
  testAndSetPatiently(r: TasRequest, onRetry?: (e: Error) => void): Promise<TasResult>;
  /** The current state, read from the arbiter now (for etcd: a linearizable read). */
  state(timeoutMs?: number): Promise<ArbiterState>;
  /** The state, retrying while the arbiter is unreachable; a WrongClusterError ends it. */
  statePatiently(onRetry?: (e: Error) => void): Promise<ArbiterState>;
  close(): void;
}
