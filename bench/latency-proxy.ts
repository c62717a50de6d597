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
// No Nagle on the relay's own sockets: a router forwards each packet as it comes. With Nagle a
// small write waits for the ACK of the previous one (up to 40 ms of delayed ACK on Linux), which
// added a round trip here and there that no real 20 ms link has, to Jaga and to ssh alike.
const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ port: targetPort, host: "127.0.0.1", noDelay: true });
  relay(client, upstream);
  relay(upstream, client);
});
server.listen(listenPort, "127.0.0.1", () => process.stdout.write("ready\n"));
