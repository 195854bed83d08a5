// `ftvm switch`: the virtual switch on its own process (`ftvm ft --listen` runs one inside
// the launcher, see src/host/launcher-net.ts).
import { SwitchServer } from "../host/switch-server.js";
import { setLogPrefix } from "../transport/channel.js";
import { defineCommand, hostPort, need } from "./args.js";
import { HOST_OPTIONS, exitWithParent } from "./hosts.js";

export const switchCommand = defineCommand({
  name: "switch",
  summary: "run the virtual switch: network clients reach the FT primary through it",
  config: true,
  envAll: true,
  options: {
    listen: { flags: "--listen <[host:]port>", help: "the client-facing TCP address (required; host 127.0.0.1 unless given)", parse: hostPort },
    hosts: { flags: "--hosts <host:port>", help: "where hosts connect", parse: hostPort, default: { host: "127.0.0.1", port: 0 }, defaultText: "127.0.0.1:0, an unused port" },
    arbiter: { ...HOST_OPTIONS.arbiter, help: "the arbiter: only the holder of the current epoch gets input; required" },
    cluster: { ...HOST_OPTIONS.cluster, help: "the cluster served (default: the arbiter's); hosts of another are refused" },
    secret: HOST_OPTIONS.secret,
    exitWithParent: HOST_OPTIONS.exitWithParent,
  },
  more: `The virtual switch on its own (\`ftvm ft --listen\` runs one in the launcher): clients
connect to --listen; FT hosts connect with \`ftvm primary|backup --switch URL\`, where URL
is what this prints as "listening ws://HOST:PORT" (choose it with --hosts).`,
  async run(v) {
    exitWithParent(v);
    setLogPrefix("switch: ");
    const { host, port } = need<{ host: string; port: number }>(v, "listen", "--listen");
    const hosts = v.hosts as { host: string; port: number };
    const srv = await SwitchServer.start({
      secret: need<string>(v, "secret", "--secret"),
      host,
      port,
      hostsHost: hosts.host,
      hostsPort: hosts.port,
      arbiterUrl: need<string>(v, "arbiter", "--arbiter"),
      cluster: v.cluster as string | undefined,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const a = srv.address();
    process.stdout.write(`listening ${srv.url}\nclients connect to ${a.host}:${a.port}\n`);
    return new Promise<number>(() => undefined);
  },
});
