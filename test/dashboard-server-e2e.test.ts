// The dashboard's server without a browser: who may open the page and its socket (the
// token off loopback, same origin only), what the socket sends first (the history), and
// actions coming back to the launcher's control.
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startDashboard } from "../src/host/dashboard-server.js";
import type { ClusterControl } from "../src/host/launcher.js";
import { RunEvents } from "../src/host/run-events.js";

const calls: string[] = [];
const control: ClusterControl = {
  crash: () => undefined,
  kill: async (role) => {
    calls.push(`kill ${role}`);
    return role === "backup" ? "no backup is paired" : undefined;
  },
  partition: async () => (calls.push("partition"), undefined),
  drop: async () => (calls.push("drop"), undefined),
  slowBackup: async (on) => (calls.push(`slow ${on}`), undefined),
};

/** Opens a socket; resolves with its first message, or rejects with the HTTP status it was refused with. */
function firstMessage(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; msg: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("message", (d) => resolve({ ws, msg: JSON.parse(String(d)) }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

describe("dashboard server", () => {
  it("on loopback: the page, then the history on the socket, live batches, and actions answered", async () => {
    const events = new RunEvents(Date.now());
    events.emit({ type: "run", source: "ft", program: "p.s", startedAt: new Date().toISOString(), options: {} });
    events.emit({ type: "console", text: "hello\n" });
    const ui = await startDashboard({ events, control, port: 0 });
    try {
      expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(ui.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="timeline"');
      for (const f of ["app.js", "style.css", "uplot.js", "uplot.css"]) expect((await fetch(ui.url + f)).status, f).toBe(200);
      expect((await fetch(ui.url + "../../etc/passwd")).status).toBe(404);

      const ws = ui.url.replace(/^http/, "ws") + "events";
      const { ws: sock, msg } = await firstMessage(ws);
      expect(msg.kind).toBe("history");
      const hist = msg.events as { type: string; text?: string }[];
      expect(hist[0].type).toBe("run");
      expect(hist.find((e) => e.type === "console")?.text).toBe("hello\n");
      // A live event arrives in a batch; an action gets its answer.
      const batch = new Promise<Record<string, unknown>>((r) => sock.on("message", (d) => { const m = JSON.parse(String(d)); if (m.kind === "events") r(m); }));
      events.emit({ type: "log", text: "x" });
      expect(((await batch).events as { type: string }[]).map((e) => e.type)).toEqual(["log"]);
      const answer = (action: string) => new Promise<Record<string, unknown>>((r) => {
        sock.on("message", (d) => { const m = JSON.parse(String(d)); if (m.kind === "action" && m.action === action) r(m); });
        sock.send(JSON.stringify({ action, id: 1 }));
      });
      expect((await answer("crash-primary")).error).toBeUndefined();
      expect((await answer("crash-backup")).error).toBe("no backup is paired");
      expect((await answer("slow-backup-on")).error).toBeUndefined();
      expect((await answer("rm -rf")).error).toMatch(/unknown action/);
      expect(calls).toEqual(["kill primary", "kill backup", "slow true"]);
      sock.close();
      // A page of another origin may not open the socket (any web site could otherwise crash hosts).
      await expect(firstMessage(ws, { Origin: "http://evil.example" })).rejects.toThrow(/HTTP 403/);
    } finally {
      await ui.close();
    }
  });

  it("off loopback (--ui-host): the URL carries a token; without it the page and the socket are refused", async () => {
    const ui = await startDashboard({ events: new RunEvents(Date.now()), control, port: 0, host: "0.0.0.0" });
    try {
      const m = /^http:\/\/0\.0\.0\.0:(\d+)\/\?token=([\w-]{20,})$/.exec(ui.url);
      expect(m, ui.url).not.toBeNull();
      const base = `http://127.0.0.1:${m![1]}/`;
      expect((await fetch(base)).status).toBe(403);
      expect((await fetch(`${base}?token=wrong`)).status).toBe(403);
      expect((await fetch(`${base}?token=${m![2]}`)).status).toBe(200);
      await expect(firstMessage(`ws://127.0.0.1:${m![1]}/events`)).rejects.toThrow(/HTTP 403/);
      const { ws, msg } = await firstMessage(`ws://127.0.0.1:${m![1]}/events?token=${m![2]}`);
      expect(msg.kind).toBe("history");
      ws.close();
    } finally {
      await ui.close();
    }
  });

  it("a port in use is a one-line error", async () => {
    const a = await startDashboard({ events: new RunEvents(Date.now()), control, port: 0 });
    try {
      const port = Number(new URL(a.url).port);
      await expect(startDashboard({ events: new RunEvents(Date.now()), control, port })).rejects.toThrow(new RegExp(`--ui: cannot listen on 127.0.0.1:${port}: EADDRINUSE`));
    } finally {
      await a.close();
    }
  });
});
