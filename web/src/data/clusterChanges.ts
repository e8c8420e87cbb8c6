/**
 * The cluster's recent changes (instances joining or leaving, sites moving), as the live
 * stream announced them while the dashboard was open. GET /api/v1/cluster says how things
 * are, not how they came to be, so the Cluster page lists these beside it.
 */

import type { ClusterChangedEvent, LiveEvent } from "../api/events";

/** How many changes are kept, newest first. */
export const KEPT_CHANGES = 20;

export class ClusterChanges {
  private changes: readonly ClusterChangedEvent[] = [];
  private readonly listeners = new Set<() => void>();

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Newest first; a new array at every change (a snapshot for useSyncExternalStore). */
  readonly list = (): readonly ClusterChangedEvent[] => this.changes;

  record(event: LiveEvent): void {
    if (event.type !== "cluster.changed") return;
    this.changes = [event, ...this.changes].slice(0, KEPT_CHANGES);
    for (const listener of this.listeners) listener();
  }
}

export const clusterChanges = new ClusterChanges();
