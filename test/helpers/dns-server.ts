/**
 * A tiny authoritative DNS server on loopback over UDP, for tests and the benchmark: it answers
 * A queries for the names it was given, and can be switched to refuse (REFUSED), deny
 * (NXDOMAIN) or stay silent, so a test can stage a DNS outage and its end.
 *
 * By default it listens on 127.0.0.1 on a port the OS picks. glibc's resolv.conf has no port
 * field, so a server that `getent` must ask listens on port 53 of an address of its own
 * (`{ address: "127.53.x.y", port: 53 }`: all of 127.0.0.0/8 is loopback, binding :53 needs root).
 *
 * @example
 * const dns = await startDnsServer({ "wa.test": "127.0.0.1" });
 * dns.mode = "refuse";      // outage
 * dns.mode = "answer";      // back
 * await dns.close();
 *
 * const ns = await startDnsServer({ "wa.test": "127.1.2.3" }, "answer", { address: "127.53.7.9", port: 53 });
 * // `nameserver 127.53.7.9` in a resolv.conf reaches it
 */
import { createSocket, type RemoteInfo } from "node:dgram";
import * as packet from "dns-packet";

export type DnsMode = "answer" | "refuse" | "nxdomain" | "silent";

export interface DnsServer {
  /** `host:port`, ready for `dns.resolvers`. */
  readonly address: string;
  /** The IPv4 address it listens on, as a resolv.conf `nameserver` line wants it. */
  readonly host: string;
  readonly port: number;
  mode: DnsMode;
  /** Queries received, by name. */
  readonly queries: Map<string, number>;
  /** Epoch ms of the first query answered with an address after the last mode change. */
  firstAnswerAt: number | null;
  close(): Promise<void>;
}

export interface DnsServerOptions {
  /** A loopback IPv4 address. Default 127.0.0.1. */
  address?: string;
  /** Default 0: the OS picks. */
  port?: number;
}

/** Header rcodes (RFC 1035 §4.1.1): dns-packet encodes them only as the flags' low bits. */
const RCODE = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5 } as const;

export async function startDnsServer(records: Record<string, string>, mode: DnsMode = "answer", options: DnsServerOptions = {}): Promise<DnsServer> {
  const host = options.address ?? "127.0.0.1";
  if (!host.startsWith("127.")) throw new Error(`a test DNS server listens on loopback only (got ${host})`);
  const socket = createSocket("udp4");
  const queries = new Map<string, number>();
  let current = mode;
  const server: DnsServer = {
    address: "",
    host,
    port: 0,
    get mode() {
      return current;
    },
    set mode(m: DnsMode) {
      current = m;
      server.firstAnswerAt = null;
    },
    queries,
    firstAnswerAt: null,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on("error", () => undefined);
  socket.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
    let query: packet.Packet;
    try {
      query = packet.decode(msg);
    } catch {
      return;
    }
    const q = query.questions?.[0];
    if (!q) return;
    queries.set(q.name, (queries.get(q.name) ?? 0) + 1);
    if (current === "silent") return;
    const known = records[q.name.toLowerCase()];
    const rcode = current === "refuse" ? "REFUSED" : current === "nxdomain" || !known ? "NXDOMAIN" : "NOERROR";
    const answers: packet.Answer[] =
      rcode === "NOERROR" && q.type === "A" ? [{ type: "A", name: q.name, ttl: 5, class: "IN", data: known! }] : [];
    if (answers.length && server.firstAnswerAt === null) server.firstAnswerAt = Date.now();
    const response = packet.encode({
      id: query.id,
      type: "response",
      // The rcode travels in the flags: dns-packet ignores a separate `rcode` when encoding.
      flags: packet.AUTHORITATIVE_ANSWER | packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | RCODE[rcode],
      questions: [q],
      answers,
    });
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(options.port ?? 0, host, () => resolve());
  });
  const { port } = socket.address();
  Object.assign(server, { port, address: `${host}:${port}` });
  return server;
}
