// `ftvm switch`: the virtual switch on its own process (`ftvm ft --listen` runs one inside
// the launcher, see src/host/launcher-net.ts).
import { SwitchServer } from "../host/switch-server.js";
import { setLogPrefix } from "../transport/channel.js";
import type { Command } from "./args.js";
import { EXIT_OK, parse, wsUrlOption } from "./args.js";
import { clusterOption, exitWithParent, hostPort, need, resolver } from "./hosts.js";

export const switchCommand: Command = {
  name: "switch",
  summary: "run the virtual switch: network clients reach the FT primary through it",
  usage: `usage: ftvm switch --listen [HOST:]PORT --arbiter URL [--hosts HOST:PORT] [--secret S]

The virtual switch on its own (\`ftvm ft --listen\` runs one in the launcher): clients
connect to --listen; FT hosts connect with \`ftvm primary|backup --switch URL\`, where URL
is what this prints as "listening ws://HOST:PORT" (choose it with --hosts).

  --listen [HOST:]PORT  the client-facing TCP address (default host 127.0.0.1)
  --hosts HOST:PORT     where hosts connect (default 127.0.0.1:0, an unused port)
  --arbiter URL         the arbiter: only the holder of the current epoch gets input  env FTVM_ARBITER
  --cluster ID          the cluster served (default: the arbiter's); hosts of another are refused  env FTVM_CLUSTER
  --secret S            shared secret for every channel                               env FTVM_SECRET
  --exit-with-parent    exit when stdin closes`,
  async run(argv) {
    const p = parse(
      argv,
      { listen: { type: "string" }, hosts: { type: "string" }, arbiter: { type: "string" }, cluster: { type: "string" }, secret: { type: "string" }, config: { type: "string" }, "exit-with-parent": { type: "boolean" } },
      this.usage,
    );
    if (p.values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    const get = resolver(p);
    exitWithParent(p);
    setLogPrefix("switch: ");
    const { host, port } = hostPort(need(get, "listen", this.usage), "listen");
    const hosts = hostPort(get("hosts") ?? "127.0.0.1:0", "hosts");
    const srv = await SwitchServer.start({
      secret: need(get, "secret", this.usage),
      host,
      port,
      hostsHost: hosts.host,
      hostsPort: hosts.port,
      arbiterUrl: wsUrlOption(need(get, "arbiter", this.usage), "arbiter")!,
      cluster: clusterOption(get("cluster")),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const a = srv.address();
    process.stdout.write(`listening ${srv.url}\nclients connect to ${a.host}:${a.port}\n`);
    return new Promise<number>(() => undefined);
  },
};
