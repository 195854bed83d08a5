// The virtual switch on a thread of its own (src/host/switch-thread.ts), as `ftvm ft
// --listen` runs it: it serves clients there, the launcher's copy of its figures follows,
// they are exact once it is closed, and a port it cannot take is refused with the reason.
import { connect, createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { SwitchThread } from "../src/host/switch-thread.js";

/** Resolves once `cond` holds, checking every few ms; rejects after `ms` (a generous bound, not a timing assertion). */
async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("the switch thread", () => {
  it("takes a client's bytes on its thread, reports them, and its figures are final once closed", async () => {
    const logs: string[] = [];
    const t = await SwitchThread.start({ secret: "s", port: 0, cluster: "c1", log: (l) => logs.push(l) });
    try {
      expect(t.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      const { port } = t.address();
      const client = connect({ port, host: "127.0.0.1" });
      await new Promise<void>((r) => client.once("connect", () => r()));
      client.write(new Uint8Array(1000).fill(7));
      // No primary: the switch holds the input, and counts it.
      await until(() => t.sw.stats.bytesIn === 1000);
      expect(t.sw.openClients()).toBe(1);
      t.serviceLost("no host is left to run the guest");
      await new Promise<void>((r) => client.once("close", () => r()));
    } finally {
      await t.close();
    }
    expect(t.sw.stats.clients).toBe(1);
    expect(t.sw.stats.bytesIn).toBe(1000);
    expect(logs.join("\n")).toMatch(/refusing clients: no host is left to run the guest/);
  });

  it("refuses a client port that is taken, with the reason", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(SwitchThread.start({ secret: "s", port, cluster: "c1", log: () => undefined })).rejects.toThrow(new RegExp(`cannot listen on 127.0.0.1:${port}`));
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
