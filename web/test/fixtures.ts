/** Small builders of API answers for tests. */

import type { Alert, Datalogger, Gateway, SiteStatus } from "../src/api/types";

export function site(id: number, overrides: Partial<SiteStatus> = {}): SiteStatus {
  const code = `site_${String(id).padStart(3, "0")}`;
  return {
    connection_id: id,
    site_id: id,
    site_name: `Site ${String(id).padStart(3, "0")}`,
    code,
    is_enabled: false,
    status: "disconnected",
    broker_host: "127.0.0.1",
    broker_port: 1883,
    protocol: "3.1.1",
    client_id: `test-${code}`,
    last_connected_at: null,
    last_heartbeat_at: null,
    connection_errors: 0,
    error_message: "",
    handler_running: false,
    handler_connected: false,
    retry_count: 0,
    next_retry_at: null,
    messages_received: 0,
    messages_rejected: 0,
    subscribed_topics: 0,
    topics_list: [],
    owner: null,
    ...overrides,
  };
}

export function datalogger(id: number, siteId: number, overrides: Partial<Datalogger> = {}): Datalogger {
  return {
    id,
    site_id: siteId,
    serial_number: `SN-${id}`,
    model: "monstro",
    label: "",
    gateway: "1",
    availability: "online",
    is_online: true,
    firmware_version: "V.5.53.0",
    sensors_count: 2,
    uptime_percentage: 100,
    offline_after_s: 180,
    last_seen_at: "2025-11-11T10:35:12Z",
    discovered_at: "2025-11-11T10:00:00Z",
    ...overrides,
  };
}

export function gateway(id: number, siteId: number, overrides: Partial<Gateway> = {}): Gateway {
  return {
    id,
    site_id: siteId,
    serial_number: `gw-${id}`,
    label: "",
    availability: "online",
    is_online: true,
    firmware_version: "",
    uptime_percentage: 100,
    offline_after_s: 180,
    last_seen_at: null,
    discovered_at: "2025-11-11T10:00:00Z",
    ...overrides,
  };
}

export function alert(id: number, overrides: Partial<Alert> = {}): Alert {
  return {
    id,
    rule_id: 1,
    kind: "site_down",
    state: "firing",
    site_id: 1,
    device_id: null,
    sensor_id: null,
    message: `Site 001: MQTT error — Connection refused, alert ${id}`,
    started_at: "2025-11-11T10:30:00Z",
    fired_at: "2025-11-11T10:31:00Z",
    resolved_at: null,
    acknowledged_by: null,
    acknowledged_at: null,
    silenced: false,
    notifications: [],
    ...overrides,
  };
}
