// The shape of the arbiter's state as it is kept in a file, checked before the arbiter
// trusts it: a state of the wrong shape ({"epoch":5,"members":7}, null) would otherwise be
// accepted and fail at the first test-and-set, or worse, grant an epoch it should not.
// Pure: the caller reads the file and decides what a refusal does (exit 2 with the
// message). parseArbiterState names the byte offset of a JSON syntax error.
import { OperatingError } from "../base/errors.js";
import type { ArbiterState } from "./core.js";

export class ArbiterStateError extends OperatingError {
  constructor(
    message: string,
    /** Byte offset in the file where it stopped making sense (0 for a wrong shape of the whole). */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Hosts named in a state, at most (a pair plus room; a longer list is not one the arbiter wrote). */
export const ARBITER_STATE_MEMBERS_MAX = 16;
/** The longest host identity in a state. */
export const ARBITER_HOST_ID_CHARS_MAX = 256;

const KEYS = ["epoch", "members", "holder"] as const;

/**
 * What is wrong with `value` as an arbiter state, or undefined when it is one: a map with
 * exactly epoch (a non-negative integer), members (distinct host ids) and holder (a host
 * id among the members; "" with no members before the first epoch). Keys named in
 * `extraKeys` are allowed besides (a durable format may add its own, e.g. a version).
 */
export function arbiterStateProblem(value: unknown, extraKeys: readonly string[] = []): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `expected a map {epoch, members, holder}, got ${value === null ? "null" : Array.isArray(value) ? "a list" : typeof value}`;
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!(KEYS as readonly string[]).includes(k) && !extraKeys.includes(k)) return `unexpected key "${k}" (expected ${KEYS.join(", ")})`;
  const { epoch, members, holder } = v;
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) return `expected epoch to be a non-negative integer, got ${JSON.stringify(epoch) ?? "nothing"}`;
  if (!Array.isArray(members) || members.length > ARBITER_STATE_MEMBERS_MAX) return `expected members to be a list of at most ${ARBITER_STATE_MEMBERS_MAX} host ids, got ${JSON.stringify(members) ?? "nothing"}`;
  for (const m of members) if (!isHostId(m)) return `expected every member to be a host id (1 to ${ARBITER_HOST_ID_CHARS_MAX} characters), got ${JSON.stringify(m)}`;
  if (new Set(members).size !== members.length) return "expected the members to be distinct";
  if (typeof holder !== "string") return `expected holder to be a host id, got ${JSON.stringify(holder) ?? "nothing"}`;
  if (epoch === 0) {
    if (members.length > 0 || holder !== "") return 'expected no members and holder "" at epoch 0 (nobody has claimed an epoch yet)';
  } else if (!isHostId(holder) || !members.includes(holder)) return `expected holder to be one of the members at epoch ${epoch}, got ${JSON.stringify(holder)}`;
  return undefined;
}

function isHostId(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= ARBITER_HOST_ID_CHARS_MAX;
}

/** Parses a state file's text; throws ArbiterStateError (with the offset of a syntax error) unless it is a state. */
export function parseArbiterState(text: string, file: string, extraKeys: readonly string[] = []): ArbiterState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const offset = jsonErrorOffset(e as Error, text);
    throw new ArbiterStateError(`${file}: not an arbiter state: invalid JSON at byte offset ${offset} (${(e as Error).message})`, offset);
  }
  const problem = arbiterStateProblem(value, extraKeys);
  if (problem) throw new ArbiterStateError(`${file}: not an arbiter state: ${problem}`, 0);
  return value as ArbiterState;
}

/** The byte offset of a JSON.parse error (Node names the character position; bytes differ past non-ASCII). */
export function jsonErrorOffset(e: Error, text: string): number {
  const m = /position (\d+)/.exec(e.message);
  const chars = m ? Number(m[1]) : text.length;
  return Buffer.byteLength(text.slice(0, chars));
}
