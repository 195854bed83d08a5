// The live dashboard of `ftvm ft --ui`: an HTTP server in the launcher that serves the
// page (plain files from src/host/dashboard/ and uPlot from node_modules, nothing to
// build) and, on a WebSocket, the run's event stream (run-events.ts): first the history a
// late page needs, then every event as it happens, batched. The page's buttons come back
// on the same socket as actions on the launcher's ClusterControl.
//
// On 127.0.0.1 (the default) the page is open to local users, as `ftvm crash` is; on any
// other address it needs the access token in the URL. A WebSocket from a page of another
// origin is refused either way (browsers let any site open a socket to localhost).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import type { ClusterControl } from "./launcher.js";
import type { RunEvent, RunEvents } from "./run-events.js";
import { HostError } from "./errors.js";

/** Events reach a page in batches, at most this often (a guest printing 10,000 lines/s is 10 messages/s, not 10,000). */
export const uiFlushIntervalMs = 100;
/** A page that has this much unsent data (a slow browser or link) gets no console text until it catches up: the rest of the stream still flows. */
export const uiClientBufferedBytesMax = 4 * 1024 * 1024;
/** Console text sent to a page per batch, in characters (the newest; what is cut is counted on the page). */
export const uiConsoleCharsPerBatchMax = 64 * 1024;
/** Pages connected at once. */
export const uiClientsMax = 16;
/** An action message from a page larger than this is refused. */
const UI_ACTION_BYTES_MAX = 1024;

const DIR = fileURLToPath(new URL("./dashboard/", import.meta.url));

/** The files the page is made of: name in the URL → [path on disk, content type]. */
export function dashboardFiles(): Record<string, [string, string]> {
  const require = createRequire(import.meta.url);
  const uplotDist = fileURLToPath(new URL(".", `file://${require.resolve("uplot")}`));
  return {
    "/": [DIR + "index.html", "text/html; charset=utf-8"],
    "/app.js": [DIR + "app.js", "text/javascript; charset=utf-8"],
    "/style.css": [DIR + "style.css", "text/css; charset=utf-8"],
    "/uplot.js": [uplotDist + "uPlot.iife.min.js", "text/javascript; charset=utf-8"],
    "/uplot.css": [uplotDist + "uPlot.min.css", "text/css; charset=utf-8"],
  };
}

export interface DashboardOptions {
  events: RunEvents;
  control: ClusterControl;
  port: number;
  /** Listen here instead of 127.0.0.1; then a token is required. */
  host?: string;
}

/** The actions the page may ask for, by name. */
const ACTIONS: Record<string, (c: ClusterControl) => Promise<string | undefined>> = {
  "crash-primary": (c) => c.kill("primary"),
  "crash-backup": (c) => c.kill("backup"),
  partition: (c) => c.partition(),
  "drop-channel": (c) => c.drop(),
  "slow-backup-on": (c) => c.slowBackup(true),
  "slow-backup-off": (c) => c.slowBackup(false),
};

export async function startDashboard(o: DashboardOptions): Promise<{ url: string; firstPage: Promise<void>; close(): Promise<void> }> {
  let pageOpened: () => void = () => undefined;
  const firstPage = new Promise<void>((r) => (pageOpened = r));
  const host = o.host ?? "127.0.0.1";
  const loopback = host === "127.0.0.1" || host === "localhost" || host === "::1";
  const token = loopback ? undefined : randomBytes(18).toString("base64url");
  const files = dashboardFiles();
  const tokenOk = (req: IncomingMessage): boolean => {
    if (!token) return true;
    const got = new URL(req.url ?? "/", "http://x").searchParams.get("token") ?? "";
    return got.length === token.length && timingSafeEqual(Buffer.from(got), Buffer.from(token));
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const f = files[path];
    if (req.method !== "GET" || !f) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    // Only the page itself needs the token: the scripts and styles it loads are public
    // files of the package (and a page's subresource requests carry no query string).
    if (path === "/" && !tokenOk(req)) {
      res.writeHead(403, { "content-type": "text/plain" }).end("ftvm dashboard: the URL's access token is missing or wrong\n");
      return;
    }
    try {
      res.writeHead(200, { "content-type": f[1], "cache-control": "no-store" }).end(readFileSync(f[0]));
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`ftvm dashboard: ${(e as Error).message}\n`);
    }
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: UI_ACTION_BYTES_MAX });
  server.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const origin = req.headers.origin;
    const sameOrigin = origin === undefined || origin === `http://${req.headers.host}`;
    if (path !== "/events" || !tokenOk(req) || !sameOrigin || wss.clients.size >= uiClientsMax) {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws));
  });

  const clients = new Set<{ ws: WebSocket; pending: RunEvent[]; console: string; consoleDropped: number }>();
  function attach(ws: WebSocket): void {
    const h = o.events.history();
    ws.send(JSON.stringify({ kind: "history", events: h.events, droppedEvents: h.droppedEvents, droppedConsoleChars: h.droppedConsoleChars, actions: Object.keys(ACTIONS) }));
    const c = { ws, pending: [] as RunEvent[], console: "", consoleDropped: 0 };
    clients.add(c);
    pageOpened();
    ws.on("close", () => clients.delete(c));
    ws.on("error", () => clients.delete(c));
    ws.on("message", (data) => {
      let m: { action?: unknown; id?: unknown };
      try {
        m = JSON.parse(String(data)) as typeof m;
      } catch {
        return;
      }
      const act = typeof m.action === "string" ? ACTIONS[m.action] : undefined;
      const reply = (error?: string) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ kind: "action", id: m.id, action: m.action, ...(error ? { error } : {}) }));
      };
      if (!act) return reply(`unknown action ${String(m.action)}`);
      act(o.control).then(reply, (e: Error) => reply(e.message));
    });
  }
  const unsubscribe = o.events.subscribe((e) => {
    for (const c of clients) {
      if (e.type === "console") c.console += e.text;
      else c.pending.push(e);
    }
  });
  const flush = () => {
    for (const c of clients) {
      if (c.pending.length === 0 && c.console.length === 0) continue;
      if (c.ws.readyState !== c.ws.OPEN) continue;
      let text = c.console;
      if (c.ws.bufferedAmount > uiClientBufferedBytesMax) {
        c.consoleDropped += text.length;
        text = "";
      } else if (text.length > uiConsoleCharsPerBatchMax) {
        c.consoleDropped += text.length - uiConsoleCharsPerBatchMax;
        text = text.slice(-uiConsoleCharsPerBatchMax);
      }
      c.ws.send(JSON.stringify({ kind: "events", events: c.pending, console: text, consoleDropped: c.consoleDropped }));
      c.pending = [];
      c.console = "";
      c.consoleDropped = 0;
    }
  };
  const timer = setInterval(flush, uiFlushIntervalMs);

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new HostError(`--ui: cannot listen on ${host}:${o.port}: ${e.code ?? e.message}`, 2)));
    server.listen(o.port, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  const shown = host.includes(":") ? `[${host}]` : host;
  const url = `http://${shown}:${port}/${token ? `?token=${token}` : ""}`;
  return {
    url,
    firstPage,
    async close() {
      // The last events (the summary) go out before the sockets close.
      flush();
      clearInterval(timer);
      unsubscribe();
      for (const c of clients) c.ws.close(1000, "the run ended");
      wss.close();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
