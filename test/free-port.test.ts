// The launcher names the arbiter's port before the arbiter starts (src/host/free-port.ts):
// the port must be free to listen on, and below the kernel's ephemeral range, which
// outgoing connections draw their local ports from.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "../src/host/free-port.js";

const ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);

describe("freePort", () => {
  it("gives a port below the ephemeral range that can be listened on", async () => {
    for (let i = 0; i < 5; i++) {
      const port = await freePort("127.0.0.1");
      expect(port).toBeLessThan(ephemeralLow);
      expect(port).toBeGreaterThanOrEqual(10000);
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once("error", reject);
        srv.listen({ host: "127.0.0.1", port }, () => srv.close(() => resolve()));
      });
    }
  });
});
