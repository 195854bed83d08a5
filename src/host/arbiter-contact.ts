// A host's first contact with its arbiter, bounded: a host started by hand against an
// arbiter that is not there (a typo'd port, an arbiter not started yet) waits for it a
// while and then says so in one line, instead of retrying for ever. Once a host has met
// its arbiter it waits patiently through outages (src/host/ft-host.ts): an arbiter that
// is restarted must find its hosts still there.
import { ARBITER_REQUEST_TIMEOUT_MS, ARBITER_RETRY_MS, WrongClusterError } from "../arbiter/client.js";
import { openArbiter } from "../arbiter/open.js";
import { log } from "../transport/channel.js";
import { HostError } from "./errors.js";

/** How long a host waits for its arbiter's first answer unless told otherwise (--arbiter-wait-ms). */
export const ARBITER_FIRST_CONTACT_MS_DEFAULT = 30_000;

/** Asks the arbiter for its state until it answers or `waitMs` have passed; returns its cluster id (and says so in the host's log). */
export async function firstContact(url: string, secret: string, cluster: string | undefined, waitMs: number): Promise<string> {
  const client = openArbiter(url, secret, cluster);
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      let why: string;
      try {
        const s = await client.state(Math.max(1, Math.min(ARBITER_REQUEST_TIMEOUT_MS, deadline - Date.now())));
        if (cluster === undefined) log(`cluster ${s.cluster} (learned from the arbiter, at epoch ${s.epoch})`);
        return s.cluster;
      } catch (e) {
        if (e instanceof WrongClusterError) throw e;
        why = (e as Error).message;
      }
      if (Date.now() >= deadline)
        throw new HostError(`the arbiter at ${url} did not answer within ${waitMs} ms (${why}); is it running there? (--arbiter-wait-ms sets the wait)`);
      await new Promise((r) => setTimeout(r, ARBITER_RETRY_MS));
    }
  } finally {
    client.close();
  }
}
