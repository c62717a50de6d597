/**
 * A tiny authoritative DNS server on 127.0.0.1 over UDP, for tests and the benchmark: it answers
 * A queries for the names it was given, and can be switched to refuse (REFUSED), deny
 * (NXDOMAIN) or stay silent, so a test can stage a DNS outage and its end.
 *
 * @example
 * const dns = await startDnsServer({ "wa.test": "127.0.0.1" });
 * dns.mode = "refuse";      // outage
 * dns.mode = "answer";      // back
 * await dns.close();
 */
import { createSocket, type RemoteInfo } from "node:dgram";
import * as packet from "dns-packet";

export type DnsMode = "answer" | "refuse" | "nxdomain" | "silent";

export interface DnsServer {
  /** `127.0.0.1:port`, ready for `dns.resolvers`. */
  readonly address: string;
  readonly port: number;
  mode: DnsMode;
  /** Queries received, by name. */
  readonly queries: Map<string, number>;
  /** Epoch ms of the first query answered with an address after the last mode change. */
  firstAnswerAt: number | null;
  close(): Promise<void>;
}

export async function startDnsServer(records: Record<string, string>, mode: DnsMode = "answer"): Promise<DnsServer> {
  const socket = createSocket("udp4");
  const queries = new Map<string, number>();
  let current = mode;
  const server: DnsServer = {
    address: "",
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
      flags: packet.AUTHORITATIVE_ANSWER | packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE,
      rcode,
      questions: [q],
      answers,
    } as packet.Packet);
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });
  const { port } = socket.address();
  Object.assign(server, { port, address: `127.0.0.1:${port}` });
  return server;
}
