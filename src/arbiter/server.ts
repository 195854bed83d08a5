// The arbiter as a small server: test-and-set over an authenticated channel. Its state
// can be kept in a file so a restarted arbiter remembers the epoch (a fresh arbiter would
// let a stale host claim epoch 1 again).
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Channel, Server } from "../transport/channel.js";
import { CLOSE_MALFORMED, listen, log } from "../transport/channel.js";
import type { ArbiterState, TasRequest } from "./core.js";
import { initialState, testAndSet } from "./core.js";

export const ARBITER_SERVICE = "ftvm-arbiter";

export interface ArbiterOptions {
  host?: string;
  port?: number;
  secret: string;
  stateFile?: string;
  onChange?(s: ArbiterState): void;
}

export async function startArbiter(o: ArbiterOptions): Promise<Server & { state(): ArbiterState }> {
  let state = initialState();
  if (o.stateFile && existsSync(o.stateFile)) state = JSON.parse(readFileSync(o.stateFile, "utf8")) as ArbiterState;
  const save = () => {
    if (!o.stateFile) return;
    // Write then rename: a crash mid-write never leaves a half-written state.
    writeFileSync(o.stateFile + ".tmp", JSON.stringify(state));
    renameSync(o.stateFile + ".tmp", o.stateFile);
  };
  const server = await listen({
    host: o.host,
    port: o.port,
    secret: o.secret,
    service: ARBITER_SERVICE,
    onChannel(ch: Channel) {
      ch.on("message", (m) => {
        if (m.t === "get") return ch.send({ t: "state", id: m.id, state });
        if (m.t === "tas") {
          const r = testAndSet(state, m as unknown as TasRequest);
          if (r.result.granted) {
            state = r.state;
            save();
            log(`epoch ${state.epoch} granted to ${state.holder} (members ${state.members.join(", ")})`);
            o.onChange?.(state);
          } else log(`test-and-set for epoch ${String(m.epoch)} by ${String(m.host)} refused: ${r.result.reason}`);
          return ch.send({ t: "tas-result", id: m.id, ...r.result });
        }
        ch.refuse(CLOSE_MALFORMED, `unknown request "${m.t}"`);
      });
    },
  });
  return { ...server, state: () => state };
}
