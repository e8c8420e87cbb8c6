/** Label and offline timeout of a datalogger, for admins. */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import type { DataloggerDetail, DataloggerPatch } from "../../api/types";
import { ErrorText } from "../../components/ErrorText";
import { queryKeys } from "../../data/queryKeys";
import { useToastStore } from "../../live/ToastContext";

export function DataloggerSettings({ device }: { device: DataloggerDetail }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const toasts = useToastStore();
  const [label, setLabel] = useState(device.label);
  const [offlineAfter, setOfflineAfter] = useState(device.offline_after_s === null ? "" : String(device.offline_after_s));
  const save = useMutation({
    mutationFn: (patch: DataloggerPatch) => api.patchDatalogger(device.id, patch),
    onSuccess: (updated) => {
      client.setQueryData(queryKeys.datalogger(device.id), updated);
      void client.invalidateQueries({ queryKey: queryKeys.dataloggerList(device.site_id) });
      void client.invalidateQueries({ queryKey: queryKeys.dataloggerList(null) });
      toasts.push({ tone: "success", key: "deviceSaved", params: { serial: device.serial_number } });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const patch: DataloggerPatch = {};
    if (label !== device.label) patch.label = label;
    // Blank means "use the site's default".
    const seconds = offlineAfter.trim() === "" ? null : Number(offlineAfter);
    if (seconds !== device.offline_after_s) patch.offline_after_s = seconds;
    if (Object.keys(patch).length > 0) save.mutate(patch);
  };
  return (
    <form className="inline-form" onSubmit={submit} data-testid="datalogger-settings">
      <label>
        {t("devices.label")}
        <input value={label} onChange={(event) => setLabel(event.target.value)} />
      </label>
      <label>
        {t("datalogger.offlineAfterS")}
        <input
          inputMode="numeric"
          value={offlineAfter}
          placeholder={t("datalogger.siteDefault")}
          onChange={(event) => setOfflineAfter(event.target.value)}
          className="narrow"
        />
      </label>
      <button type="submit" className="button primary" disabled={save.isPending}>
        {save.isPending ? t("common.saving") : t("common.save")}
      </button>
      <ErrorText error={save.error} />
    </form>
  );
}
