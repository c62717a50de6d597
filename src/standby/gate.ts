/**
 * Which incidents an instance of a standby pair works on, by role.
 *
 * Active: the shared desk (src/standby/shared-incidents.ts): the incidents of every term, their
 * alerts queued in the shared outbox, so a takeover continues them (same numbers, same threads).
 *
 * Standby: its own store's, with every alert dropped. A standby watches like the active one, so
 * its desk opens and resolves incidents there — /incidents and /health tell the truth on it, and
 * "the active one went silent" is recorded — but the shared desk is the active instance's to
 * write (fenced: it could not anyway) and the alerts are its to send. What a standby saw goes into
 * its takeover message instead (src/main.ts), once, if it takes over.
 *
 * The role is asked at every call; the desk reloads its open incidents when the role changes
 * ({@link IncidentDesk.reload}), since the two sides hold different incidents.
 *
 * @example
 * const incidents = incidentsByRole(store.incidents, new SharedIncidents({ … }), () => standby.isActive());
 */
import type { AlertFor, AlertingIncidents } from "../store/store.js";

export function incidentsByRole(local: AlertingIncidents, shared: AlertingIncidents, active: () => boolean): AlertingIncidents {
  const standby = alertsOnlyWhenActive(local, active);
  const now = () => (active() ? shared : standby);
  return {
    openOrGet: (o, alert) => now().openOrGet(o, alert),
    ack: (id, by, at, alert) => now().ack(id, by, at, alert),
    resolve: (id, at, alert, quietMs) => now().resolve(id, at, alert, quietMs),
    notify: (id, at, alert) => now().notify(id, at, alert),
    addEvent: (id, event) => now().addEvent(id, event),
    timeline: (id) => now().timeline(id),
    get: (id) => now().get(id),
    listOpen: () => now().listOpen(),
    listSince: (since) => now().listSince(since),
  };
}

/** A store's incidents with the alert of every change dropped while this instance is not active. */
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
