/** Messaggi della pagina Cluster; parte di it.ts, con le stesse chiavi di cluster.en.ts. */
import type { cluster as en } from "./cluster.en";
import type { Messages } from "./it";

export const cluster: Messages<typeof en> = {
  title: "Cluster",
  answeredBy: "risposta di {{id}}",
  engines: { sqlite: "SQLite: una sola istanza", postgres: "PostgreSQL" },
  instances_one: "{{count}} istanza",
  instances_other: "{{count}} istanze",
  totalSites_one: "{{count}} impianto attivo",
  totalSites_other: "{{count}} impianti attivi",
  unowned_one: "{{count}} impianto abilitato non è gestito da nessuna istanza.",
  unowned_other: "{{count}} impianti abilitati non sono gestiti da nessuna istanza.",
  allOwned: "Ogni impianto abilitato è gestito da un'istanza.",
  thisInstance: "questa istanza",
  started: "Avviata",
  lastSeen: "Ultimo segnale",
  sites: "Impianti",
  workers: "Processi worker",
  noWorkers: "Nessun processo worker: gli impianti girano nel processo principale.",
  worker: "worker {{n}}",
  pid: "pid {{pid}}",
  noPid: "nessun processo",
  workerSites_one: "{{count}} impianto",
  workerSites_other: "{{count}} impianti",
  restarts_one: "{{count}} riavvio",
  restarts_other: "{{count}} riavvii",
  states: { running: "attivo", starting: "in avvio", restarting: "in riavvio", stopped: "fermo" },
  owner: "Gestito da",
  ownerWorker: "{{instance}}, worker {{worker}}",
  noOwner: "nessuna istanza",
};
