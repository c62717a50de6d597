// A TCP relay that adds a fixed one-way delay in each direction, run as its own process so its
// timers do not share the benchmark's event loop. Stands in for the network between Jaga and a
// remote host (loopback has none; this machine cannot shape traffic with netem).
//   tsx bench/latency-proxy.ts <listen-port> <target-port> <delay-ms>
import net, { type Socket } from "node:net";

const [listenPort = 0, targetPort = 0, delayMs = 0] = process.argv.slice(2).map(Number);
const relay = (from: Socket, to: Socket) => {
  from.on("data", (chunk: Buffer) => setTimeout(() => to.write(chunk), delayMs));
  from.on("end", () => setTimeout(() => to.end(), delayMs));
  from.on("error", () => to.destroy());
};
const server = net.createServer((client) => {
  const upstream = net.connect(targetPort, "127.0.0.1");
  relay(client, upstream);
  relay(upstream, client);
});
server.listen(listenPort, "127.0.0.1", () => process.stdout.write("ready\n"));
