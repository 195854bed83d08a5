// The arbiter's test-and-set with epochs, as a pure state machine. One flag per epoch:
// epoch e+1 can be claimed once, and only by a member of epoch e (the pair that shared
// its state). This answers the paper's open question of when the flag is reset: it never
// is; a new primary/backup pair works in a new epoch. A host that restarts without state
// has a new identity and is no member of anything, so it can never become primary; after
// both members of an epoch die, nobody can serve.
//
// The cluster id. Epoch numbers alone cannot tell two arbiters apart: an arbiter that lost
// its state (restarted without its file, or with a file from another machine) starts again
// at epoch 0 and would grant epoch 1 a second time. So every arbiter state carries a
// cluster id, chosen at random (by the caller: this file draws nothing) when an arbiter
// starts without state, and kept in its file with the epochs. Every host, sink, switch and
// disk server belongs to one cluster and refuses an arbiter, a host or output of another:
// the epochs of one cluster are granted by one unbroken history, so no sequence of arbiter
// restarts can grant an epoch twice within a cluster. An arbiter that forgot starts a new
// cluster, which nobody of the old one accepts (the old cluster loses its arbiter: it can
// go on as long as it needs no new epoch, and never serves twice).

export interface ArbiterState {
  /** The cluster this arbiter's epochs belong to (random, chosen when the state was created). */
  cluster: string;
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
  /** The claiming host's cluster; a request without one (a host that has not met the arbiter yet) claims in the arbiter's. */
  cluster?: string;
}

export type TasResult = { granted: true; state: ArbiterState } | { granted: false; state: ArbiterState; reason: string };

/** A cluster id: what the arbiter's file, flags and messages may carry. */
export const CLUSTER_ID_CHARS_MAX = 64;
const CLUSTER_ID_RE = /^[0-9a-zA-Z_-]+$/;
/** Members of one epoch (a primary and its backup; a few more leave room). */
export const MEMBERS_MAX = 16;
/** A host id's length (pid and random hex in practice). */
export const HOST_ID_CHARS_MAX = 100;

/** Why `c` is not a usable cluster id, or undefined. */
export function clusterIdProblem(c: unknown): string | undefined {
  if (typeof c !== "string" || c.length === 0 || c.length > CLUSTER_ID_CHARS_MAX || !CLUSTER_ID_RE.test(c))
    return `a cluster id is 1 to ${CLUSTER_ID_CHARS_MAX} letters, digits, "-" or "_"; got ${JSON.stringify(c)?.slice(0, 80)}`;
  return undefined;
}

/** The reason every part of the system gives when it meets another cluster (names both ids). */
export function otherCluster(what: string, theirs: string, ours: string): string {
  return `${what} belongs to cluster ${theirs}, this one to cluster ${ours}`;
}

export function initialState(cluster = "local"): ArbiterState {
  return { cluster, epoch: 0, members: [], holder: "" };
}

export function testAndSet(s: ArbiterState, r: TasRequest): { state: ArbiterState; result: TasResult } {
  const refuse = (reason: string) => ({ state: s, result: { granted: false as const, state: s, reason } });
  // The same bounds as the state file's: a grant the arbiter could not read back after a restart must not be given.
  const hostOk = (h: unknown) => typeof h === "string" && h.length > 0 && h.length <= HOST_ID_CHARS_MAX;
  if (!Number.isSafeInteger(r.epoch) || !hostOk(r.host) || !Array.isArray(r.members) || r.members.length > MEMBERS_MAX || !r.members.every(hostOk))
    return refuse(`malformed request (an epoch, a host id and at most ${MEMBERS_MAX} members of 1 to ${HOST_ID_CHARS_MAX} characters)`);
  if (r.cluster !== undefined && r.cluster !== s.cluster) return refuse(otherCluster(`host ${r.host}`, String(r.cluster), s.cluster));
  if (!r.members.includes(r.host)) return refuse(`host ${r.host} is not among the members it names`);
  // A retry of a request that already won (its answer was lost on the way back) wins
  // again: test-and-set must be idempotent for its winner, or the winner would halt.
  if (r.epoch === s.epoch && r.host === s.holder && sameMembers(r.members, s.members)) return { state: s, result: { granted: true, state: s } };
  if (r.epoch <= s.epoch) return refuse(`epoch ${r.epoch} is already taken (current epoch ${s.epoch}, held by ${s.holder})`);
  if (r.epoch !== s.epoch + 1) return refuse(`epoch ${r.epoch} is not the next epoch (current ${s.epoch})`);
  if (s.epoch > 0 && !s.members.includes(r.host))
    return refuse(`host ${r.host} was not a member of epoch ${s.epoch} (${s.members.join(", ")}): a host without that state may not serve`);
  const next: ArbiterState = { cluster: s.cluster, epoch: r.epoch, members: [...r.members], holder: r.host };
  return { state: next, result: { granted: true, state: next } };
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((m) => b.includes(m));
}

/** What a valid state file holds (said when one does not). */
export const ARBITER_STATE_SHAPE = `{"version":1,"cluster":"<id>","epoch":<integer >= 0>,"members":["<host>", ...],"holder":"<host>"}`;
export const ARBITER_STATE_VERSION = 1;

/**
 * Parses an arbiter's state file. Returns the state, or a sentence saying what is wrong
 * and what was expected: a state of the wrong shape is refused when the arbiter starts,
 * never met as a crash at the first test-and-set.
 */
export function parseArbiterState(text: string): ArbiterState | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON (${(e as Error).message}); expected ${ARBITER_STATE_SHAPE}`;
  }
  const bad = (what: string) => `${what}; expected ${ARBITER_STATE_SHAPE}`;
  if (v === null || typeof v !== "object" || Array.isArray(v)) return bad(`holds ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}, not an object`);
  const o = v as Record<string, unknown>;
  if (o.version !== ARBITER_STATE_VERSION) return bad(`version ${JSON.stringify(o.version)}, this ftvm reads version ${ARBITER_STATE_VERSION}`);
  const cp = clusterIdProblem(o.cluster);
  if (cp) return bad(`"cluster": ${cp}`);
  if (!Number.isSafeInteger(o.epoch) || (o.epoch as number) < 0) return bad(`"epoch" is ${JSON.stringify(o.epoch)}, not a non-negative integer`);
  if (!Array.isArray(o.members) || o.members.length > MEMBERS_MAX || !o.members.every((m) => typeof m === "string" && m.length > 0 && m.length <= HOST_ID_CHARS_MAX))
    return bad(`"members" is ${JSON.stringify(o.members)?.slice(0, 80)}, not a list of at most ${MEMBERS_MAX} host ids`);
  if (typeof o.holder !== "string" || o.holder.length > HOST_ID_CHARS_MAX) return bad(`"holder" is ${JSON.stringify(o.holder)?.slice(0, 80)}, not a host id`);
  const epoch = o.epoch as number;
  const members = o.members as string[];
  if (epoch === 0 ? members.length > 0 || o.holder !== "" : members.length === 0 || !members.includes(o.holder))
    return bad(epoch === 0 ? `epoch 0 has no members and no holder` : `the holder of epoch ${epoch} must be one of its members`);
  const extra = Object.keys(o).filter((k) => !["version", "cluster", "epoch", "members", "holder"].includes(k));
  if (extra.length) return bad(`unknown field${extra.length > 1 ? "s" : ""} ${extra.join(", ")}`);
  return { cluster: o.cluster as string, epoch, members: [...members], holder: o.holder };
}

export function formatArbiterState(s: ArbiterState): string {
  return JSON.stringify({ version: ARBITER_STATE_VERSION, cluster: s.cluster, epoch: s.epoch, members: s.members, holder: s.holder }) + "\n";
}
