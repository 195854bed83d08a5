// The arbiter's test-and-set with epochs, as a pure state machine. One flag per epoch:
// epoch e+1 can be claimed once, and only by a member of epoch e (the pair that shared
// its state). This answers the paper's open question of when the flag is reset: it never
// is; a new primary/backup pair works in a new epoch. A host that restarts without state
// has a new identity and is no member of anything, so it can never become primary; after
// both members of an epoch die, nobody can serve.

export interface ArbiterState {
  /** The current epoch; 0 before the first primary claimed epoch 1. */
  epoch: number;
  /** Hosts that share the state of the current epoch (the primary, and the backup if any). */
  members: string[];
  /** Who claimed the current epoch (its primary). */
  holder: string;
}

export interface TasRequest {
  /** The epoch to claim: must be exactly current + 1. */
  epoch: number;
  /** The claiming host's identity. */
  host: string;
  /** Members of the new epoch (must include host). */
  members: string[];
}

export type TasResult = { granted: true; state: ArbiterState } | { granted: false; state: ArbiterState; reason: string };

export function initialState(): ArbiterState {
  return { epoch: 0, members: [], holder: "" };
}

export function testAndSet(s: ArbiterState, r: TasRequest): { state: ArbiterState; result: TasResult } {
  const refuse = (reason: string) => ({ state: s, result: { granted: false as const, state: s, reason } });
  if (!Number.isSafeInteger(r.epoch) || typeof r.host !== "string" || !Array.isArray(r.members) || !r.members.every((m) => typeof m === "string"))
    return refuse("malformed request");
  if (!r.members.includes(r.host)) return refuse(`host ${r.host} is not among the members it names`);
  // A retry of a request that already won (its answer was lost on the way back) wins
  // again: test-and-set must be idempotent for its winner, or the winner would halt.
  if (r.epoch === s.epoch && r.host === s.holder && sameMembers(r.members, s.members)) return { state: s, result: { granted: true, state: s } };
  if (r.epoch <= s.epoch) return refuse(`epoch ${r.epoch} is already taken (current epoch ${s.epoch}, held by ${s.holder})`);
  if (r.epoch !== s.epoch + 1) return refuse(`epoch ${r.epoch} is not the next epoch (current ${s.epoch})`);
  if (s.epoch > 0 && !s.members.includes(r.host))
    return refuse(`host ${r.host} was not a member of epoch ${s.epoch} (${s.members.join(", ")}): a host without that state may not serve`);
  const next: ArbiterState = { epoch: r.epoch, members: [...r.members], holder: r.host };
  return { state: next, result: { granted: true, state: next } };
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((m) => b.includes(m));
}
