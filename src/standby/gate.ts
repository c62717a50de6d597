/**
 * A standby watches like the active instance — its incident desk opens and resolves incidents in
 * its own store, so /incidents and /health tell the truth there — but it queues no alert: the
 * active instance sends those. These incidents wrap the store's and drop the alert of every
 * change while this instance is not active; the change itself is recorded as usual. What a
 * standby saw goes into its takeover message instead (src/main.ts), once, if it takes over.
 *
 * @example
 * const incidents = alertsOnlyWhenActive(store.incidents, () => standby.isActive());
 */
import type { AlertFor, AlertingIncidents } from "../store/store.js";

export function alertsOnlyWhenActive(incidents: AlertingIncidents, active: () => boolean): AlertingIncidents {
  const gate = (alert?: AlertFor): AlertFor | undefined => (alert && active() ? alert : undefined);
  return {
    openOrGet: (o, alert) => incidents.openOrGet(o, gate(alert)),
    ack: (id, by, at, alert) => incidents.ack(id, by, at, gate(alert)),
    resolve: (id, at, alert, quietMs) => incidents.resolve(id, at, gate(alert), quietMs),
    notify: (id, at, alert) => (active() ? incidents.notify(id, at, alert) : Promise.resolve(false)),
    addEvent: (id, event) => incidents.addEvent(id, event),
    timeline: (id) => incidents.timeline(id),
    get: (id) => incidents.get(id),
    listOpen: () => incidents.listOpen(),
    listSince: (since) => incidents.listSince(since),
  };
}
