/**
 * The health snapshot as Prometheus text (exposition format 0.0.4): counters end in `_total`,
 * gauges are plain, every metric has HELP and TYPE.
 *
 * @example
 * res.end(renderMetrics(snapshot)); // jaga_whatsapp_connected 1 ...
 */
import type { HealthSnapshot } from "./health.js";

const STATES = ["idle", "connecting", "open", "backoff", "dns-wait", "breaker-open", "logged-out", "forbidden", "replaced", "outdated", "stopped"];

export function renderMetrics(h: HealthSnapshot): string {
  const out: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${Number.isFinite(v) ? v : 0}`);
  };
  const wa = h.whatsapp;
  metric("jaga_up", "gauge", "Jaga is running.", [["", 1]]);
  metric("jaga_uptime_seconds", "gauge", "Seconds since Jaga started.", [["", h.uptimeSeconds]]);
  metric("jaga_outbox_backlog", "gauge", "Outgoing messages waiting in the outbox.", [["", h.queuedOutgoing]]);
  if (h.store) {
    metric("jaga_store_writable", "gauge", "1 while Jaga can write its data.", [["", h.store.writable ? 1 : 0]]);
    if (h.store.dataDir) metric("jaga_data_disk_used_percent", "gauge", "Use of the disk holding the data directory.", [["", h.store.dataDir.usedPercent]]);
  }
  if (h.replication) metric("jaga_replication_backlog", "gauge", "Writes waiting for Supabase.", [["", h.replication.backlog]]);
  if (wa) {
    metric("jaga_whatsapp_connected", "gauge", "1 when the WhatsApp socket is open.", [["", wa.state === "open" ? 1 : 0]]);
    metric("jaga_whatsapp_connect_attempts_total", "counter", "WhatsApp sockets opened since start.", [["", wa.attempts]]);
    metric("jaga_whatsapp_dns_probes_total", "counter", "DNS probes while the WhatsApp host did not resolve.", [["", wa.dnsProbes]]);
    metric("jaga_whatsapp_breaker_open", "gauge", "1 while the circuit breaker is open.", [["", wa.breaker.state === "open" ? 1 : 0]]);
    metric("jaga_whatsapp_breaker_opened_total", "counter", "Times the circuit breaker opened.", [["", wa.breaker.opened]]);
    metric("jaga_whatsapp_system_dns_broken", "gauge", "1 while only a non-system resolver answers.", [["", wa.systemDnsBroken ? 1 : 0]]);
    metric(
      "jaga_whatsapp_state",
      "gauge",
      "The connection state (1 for the current one).",
      STATES.map((s) => [`{state="${s}"}`, wa.state === s ? 1 : 0]),
    );
    if (wa.delivery) {
      const d = wa.delivery;
      metric("jaga_outbox_messages", "gauge", "Outgoing messages by delivery state.", [
        ['{state="queued"}', d.queued],
        ['{state="unacked"}', d.unacked],
        ['{state="retrying"}', d.retrying],
        ['{state="dead"}', d.dead],
      ]);
      metric("jaga_outbox_oldest_queued_seconds", "gauge", "Age of the oldest queued outgoing message (0 when none).", [["", d.oldestQueuedAgeSeconds ?? 0]]);
    }
    metric(
      "jaga_whatsapp_ignored_messages_total",
      "counter",
      "Incoming messages ignored, by reason.",
      Object.entries(wa.ignored).map(([r, n]) => [`{reason="${r}"}`, n]),
    );
  }
  return `${out.join("\n")}\n`;
}
