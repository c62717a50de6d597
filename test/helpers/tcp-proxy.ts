/**
 * A TCP relay on 127.0.0.1 in front of a loopback service (PostgreSQL), for partitions: while
 * `blackhole` is on, bytes in both directions are held back and nothing is closed — the network
 * went silent, as when a cable is pulled or a firewall drops packets — and `cut()` resets every
 * connection. Loopback cannot be firewalled by a test without root tricks; this can.
 *
 * @example
 * const proxy = await startTcpProxy(cluster.port);
 * const url = `postgresql://postgres:pw@127.0.0.1:${proxy.port}/jaga_test`;
 * proxy.setBlackhole(true); // queries hang from now on
 * await proxy.close();
 */
import net, { type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Connections relayed so far. */
  readonly connections: number;
  setBlackhole(on: boolean): void;
  /** Resets every relayed connection (the peer sees ECONNRESET). */
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let blackhole = false;
  let connections = 0;
  const pairs = new Set<[Socket, Socket]>();
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const relay = (from: Socket, to: Socket) => {
      // Held back, never forwarded: a silent network does not deliver late either.
      from.on("data", (chunk: Buffer) => {
        if (!blackhole) to.write(chunk);
      });
      from.on("end", () => {
        if (!blackhole) to.end();
      });
      from.on("error", () => to.destroy());
      from.on("close", () => {
        pairs.delete(pair);
        if (!blackhole) to.destroy();
      });
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    setBlackhole: (on) => void (blackhole = on),
    cut: () => {
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
    },
    close: async () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
