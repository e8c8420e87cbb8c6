/** What the Cluster page shows of GET /api/v1/cluster, worked out without a browser. */

import type { ClusterAnswer, ClusterInstance, WorkerState } from "../api/types";

/** The instance that answered first (it is the one the reader is talking to), then by id. */
export function orderInstances(answer: ClusterAnswer): ClusterInstance[] {
  return [...answer.instances].sort((a, b) => {
    const self = Number(b.instance_id === answer.instance_id) - Number(a.instance_id === answer.instance_id);
    return self || a.instance_id.localeCompare(b.instance_id);
  });
}

/** The sites run by all instances together. */
export function runningSites(answer: ClusterAnswer): number {
  return answer.instances.reduce((sum, instance) => sum + instance.sites, 0);
}

const CHANGE_KINDS = ["joined", "left", "sites_moved"] as const;

/** The kind of a `cluster.changed` event, for its message; one the dashboard does not know is "other". */
export function changeKind(change: string): (typeof CHANGE_KINDS)[number] | "other" {
  return CHANGE_KINDS.find((kind) => kind === change) ?? "other";
}

export const WORKER_TONES: Record<WorkerState, string> = {
  running: "green",
  starting: "blue",
  restarting: "amber",
  stopped: "grey",
};
