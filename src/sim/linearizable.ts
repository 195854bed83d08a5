// A linearizability checker for what network clients see of a key-value service: SET,
// GET and INCR on string keys (registers and counters), as programs/redis.s serves them.
// A history is linearizable when every operation can be given one instant between its
// invocation and its response at which it took effect, in an order that a single copy of
// the store would have produced. That is the promise FT makes to clients across
// failovers: whatever the hosts did, the clients saw one machine.
//
// The search is Wing & Gong's, with Lowe's memoization of (operations done, state):
// repeatedly pick an operation that no other pending operation's response precedes,
// apply it to the model, and backtrack when its result does not match. Linearizability
// is compositional (Herlihy & Wing), so each key is checked on its own, which keeps the
// searches small. An operation without a response (the client gave up, or the
// connection broke) may have taken effect or not: it is placed anywhere after its
// invocation, or left out.
//
// Pure: histories come in as data (from the simulator's clients or a real test's).

export type KvOp =
  | { kind: "set"; key: string; value: string }
  | { kind: "get"; key: string }
  | { kind: "incr"; key: string };

/** What the client saw: a SET's OK, a GET's value (null for nil), an INCR's new value, or an error reply. */
export type KvResult = { ok: true } | { value: string | null } | { int: bigint } | { error: string };

export interface HistoryEntry {
  client: number;
  op: KvOp;
  /** When the request was sent (any clock, as long as it is the same for all entries). */
  invokeMs: number;
  /** When the reply arrived; undefined when none did (the outcome is unknown). */
  returnMs?: number;
  result?: KvResult;
}

export type Verdict = { linearizable: true } | { linearizable: false; key: string; why: string } | { linearizable: "unknown"; key: string; why: string };

/** The search gives up (verdict "unknown") after this many steps on one key: the problem is NP-complete in general. */
export const SEARCH_STEPS_MAX = 2_000_000;
/** Operations on one key checked at most (the memo's bitsets grow with it). */
export const OPS_PER_KEY_MAX = 4096;

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** The model of one key: its value, or null when unset. Returns the next state, or undefined when the result cannot come from `state`. */
function apply(state: string | null, e: HistoryEntry): string | null | undefined {
  const r = e.result;
  switch (e.op.kind) {
    case "set":
      if (r !== undefined && !("ok" in r)) return undefined;
      return e.op.value;
    case "get":
      if (r === undefined) return state; // a read with no reply changes nothing
      if (!("value" in r)) return undefined;
      return r.value === state ? state : undefined;
    case "incr": {
      const n = state === null ? 0n : parseInt64(state);
      if (n === undefined || n === INT64_MAX) {
        // Redis answers an error and changes nothing.
        if (r === undefined || "error" in r) return state;
        return undefined;
      }
      const next = n + 1n;
      if (r === undefined) return next.toString();
      if (!("int" in r) || r.int !== next) return undefined;
      return next.toString();
    }
  }
}

function parseInt64(s: string): bigint | undefined {
  if (!/^-?(0|[1-9][0-9]*)$/.test(s)) return undefined;
  const n = BigInt(s);
  return n > INT64_MAX || n < INT64_MIN ? undefined : n;
}

/** Checks one key's operations, starting from an unset key. */
function checkKey(key: string, ops: HistoryEntry[]): Verdict {
  if (ops.length > OPS_PER_KEY_MAX) return { linearizable: "unknown", key, why: `${ops.length} operations on one key, more than the ${OPS_PER_KEY_MAX} checked` };
  const n = ops.length;
  const words = Math.ceil(n / 32) || 1;
  const done = new Uint32Array(words);
  const memo = new Set<string>();
  let steps = 0;
  const returnOf = (e: HistoryEntry) => e.returnMs ?? Infinity;
  // Operations that must be placed (those with a response); the rest may be left out.
  const required = ops.filter((e) => e.returnMs !== undefined).length;

  const search = (state: string | null, placedRequired: number): boolean | "gave-up" => {
    if (placedRequired === required) return true;
    if (++steps > SEARCH_STEPS_MAX) return "gave-up";
    const memoKey = `${state === null ? "\u0000" : state}|${done.join(",")}`;
    if (memo.has(memoKey)) return false;
    memo.add(memoKey);
    // The earliest response among pending operations: anything invoked after it cannot come first.
    let horizon = Infinity;
    for (let i = 0; i < n; i++) if (!(done[i >>> 5] & (1 << (i & 31)))) horizon = Math.min(horizon, returnOf(ops[i]));
    for (let i = 0; i < n; i++) {
      if (done[i >>> 5] & (1 << (i & 31))) continue;
      const e = ops[i];
      if (e.invokeMs > horizon) continue;
      const next = apply(state, e);
      if (next === undefined) continue;
      done[i >>> 5] |= 1 << (i & 31);
      const r = search(next, placedRequired + (e.returnMs !== undefined ? 1 : 0));
      done[i >>> 5] &= ~(1 << (i & 31));
      if (r !== false) return r;
    }
    return false;
  };
  const r = search(null, 0);
  if (r === true) return { linearizable: true };
  if (r === "gave-up") return { linearizable: "unknown", key, why: `no verdict within ${SEARCH_STEPS_MAX} search steps` };
  return { linearizable: false, key, why: describeKey(ops) };
}

function describeKey(ops: HistoryEntry[]): string {
  const shown = ops
    .slice(0, 12)
    .map((e) => `client ${e.client} ${e.op.kind.toUpperCase()}${e.op.kind === "set" ? ` ${e.op.value}` : ""} [${e.invokeMs}, ${e.returnMs ?? "no reply"}] -> ${formatResult(e.result)}`);
  return `no order of these operations explains what the clients saw: ${shown.join("; ")}${ops.length > 12 ? `; ... (${ops.length} in all)` : ""}`;
}

function formatResult(r: KvResult | undefined): string {
  if (r === undefined) return "?";
  if ("ok" in r) return "OK";
  if ("value" in r) return r.value === null ? "nil" : JSON.stringify(r.value);
  if ("int" in r) return String(r.int);
  return `ERR ${r.error}`;
}

/** Checks a whole history, key by key; the first key that fails (or cannot be decided) is named. */
export function checkLinearizable(history: readonly HistoryEntry[]): Verdict {
  const byKey = new Map<string, HistoryEntry[]>();
  for (const e of history) {
    if (e.returnMs !== undefined && e.returnMs < e.invokeMs) throw new RangeError(`client ${e.client}: a reply at ${e.returnMs} before its request at ${e.invokeMs}`);
    const list = byKey.get(e.op.key) ?? [];
    list.push(e);
    byKey.set(e.op.key, list);
  }
  let unknown: Verdict | undefined;
  for (const [key, ops] of byKey) {
    ops.sort((a, b) => a.invokeMs - b.invokeMs);
    const v = checkKey(key, ops);
    if (v.linearizable === false) return v;
    if (v.linearizable === "unknown") unknown ??= v;
  }
  return unknown ?? { linearizable: true };
}
