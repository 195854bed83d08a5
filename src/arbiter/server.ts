// The arbiter as a small server: test-and-set over an authenticated channel. Its state
// (cluster id, epoch, members, holder) lives in a file, always: a grant is answered only
// after the new state was written, fsynced, renamed over the old file and the directory
// fsynced, so an arbiter killed at any instant and restarted with its file never grants
// an epoch it already granted. An arbiter started without a file creates one with a new
// cluster id (drawn by the caller, see core.ts); hosts of the old cluster refuse it.
//
// Protocol (service ARBITER_SERVICE; "/2": requests and states carry the cluster id):
//   client → server  {t:"get", id}                      → {t:"state", id, state}
//   client → server  {t:"tas", id, epoch, host, members, cluster?}
//                                                       → {t:"tas-result", id, granted, state, reason?}
//   server → client  {t:"error", id, reason}            the state could not be made durable
import { OperatingError } from "../base/errors.js";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { Channel, Server } from "../transport/channel.js";
import { CLOSE_MALFORMED, listen, log } from "../transport/channel.js";
import type { ArbiterState, TasRequest } from "./core.js";
import { clusterIdProblem, formatArbiterState, initialState, parseArbiterState, testAndSet } from "./core.js";

/** The service name doubles as the protocol's version: "/2" added the cluster id. */
export const ARBITER_SERVICE = "ftvm-arbiter/2";
/** A state file larger than this is not an arbiter's (a real one is a few hundred bytes). */
export const ARBITER_STATE_FILE_BYTES_MAX = 64 * 1024;

/** The state file is missing its directory, unreadable, or of the wrong shape: the arbiter does not start. */
export class ArbiterStateError extends OperatingError {}

export interface ArbiterOptions {
  host?: string;
  port?: number;
  secret: string;
  /** Where the state lives; created (with a new cluster id) when it does not exist. */
  stateFile: string;
  /** A new random cluster id, for a state file that does not exist yet (randomness stays with the caller). */
  newClusterId: () => string;
  onChange?(s: ArbiterState): void;
}

export interface ArbiterServer extends Server {
  state(): ArbiterState;
  /** The state file did not exist: this arbiter started a new cluster. */
  created: boolean;
  stateFile: string;
}

/** Reads the state file, or undefined when there is none. Throws ArbiterStateError with what was expected. */
export function readArbiterState(file: string): ArbiterState | undefined {
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > ARBITER_STATE_FILE_BYTES_MAX) throw new Error(`${buf.length} bytes, more than an arbiter state's ${ARBITER_STATE_FILE_BYTES_MAX}`);
    text = buf.toString("utf8");
  } catch (e) {
    throw new ArbiterStateError(`arbiter state ${file}: ${(e as Error).message}`);
  }
  const s = parseArbiterState(text);
  if (typeof s === "string") throw new ArbiterStateError(`arbiter state ${file}: ${s}`);
  return s;
}

/**
 * Makes `s` the file's content durably: written to a temporary file and fsynced, renamed
 * over the file (atomic: a crash leaves the old state or the new, never half of one),
 * then the directory fsynced so the rename itself survives a power loss.
 */
export function writeArbiterState(file: string, s: ArbiterState): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, formatArbiterState(s));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(file), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export async function startArbiter(o: ArbiterOptions): Promise<ArbiterServer> {
  let state = readArbiterState(o.stateFile);
  const created = state === undefined;
  if (!state) {
    const id = o.newClusterId();
    const problem = clusterIdProblem(id);
    if (problem) throw new ArbiterStateError(`new cluster id: ${problem}`);
    state = initialState(id);
    // Durable before anyone hears the id: a restart must find the same cluster.
    try {
      writeArbiterState(o.stateFile, state);
    } catch (e) {
      throw new ArbiterStateError(`arbiter state ${o.stateFile}: cannot create it (${(e as Error).message})`);
    }
  }
  let s: ArbiterState = state;
  const server = await listen({
    host: o.host,
    port: o.port,
    secret: o.secret,
    service: ARBITER_SERVICE,
    onChannel(ch: Channel) {
      ch.on("message", (m) => {
        if (m.t === "get") return ch.send({ t: "state", id: m.id, state: s });
        if (m.t === "tas") {
          const r = testAndSet(s, m as unknown as TasRequest);
          if (r.result.granted && r.state !== s) {
            // The answer waits for the disk: a grant the file does not hold was never given.
            try {
              writeArbiterState(o.stateFile, r.state);
            } catch (e) {
              const reason = `cannot make epoch ${r.state.epoch} durable in ${o.stateFile} (${(e as Error).message}); not granted`;
              log(reason);
              return ch.send({ t: "error", id: m.id, reason });
            }
            s = r.state;
            log(`epoch ${s.epoch} of cluster ${s.cluster} granted to ${s.holder} (members ${s.members.join(", ")})`);
            o.onChange?.(s);
          } else if (!r.result.granted) log(`test-and-set for epoch ${String(m.epoch)} by ${String(m.host)} refused: ${r.result.reason}`);
          return ch.send({ t: "tas-result", id: m.id, ...r.result });
        }
        ch.refuse(CLOSE_MALFORMED, `unknown request "${m.t}"`);
      });
    },
  });
  return { ...server, state: () => s, created, stateFile: o.stateFile };
}
