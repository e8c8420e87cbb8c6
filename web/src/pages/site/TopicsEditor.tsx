/**
 * A site's subscriptions (topic templates relative to its code). Changes reach the live
 * connection without a reconnect; the site's `topics_list` follows on its next status.
 */

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Trans, useTranslation } from "react-i18next";
import { api } from "../../api/endpoints";
import type { DeviceKind, MessageKind, Qos, Subscription, SubscriptionInput } from "../../api/types";
import { ErrorText, Loading } from "../../components/ErrorText";
import { queryKeys } from "../../data/queryKeys";
import { useSiteTopics } from "../../hooks/queries";

const BLANK: SubscriptionInput = {
  pattern: "",
  device_kind: "datalogger",
  message_kind: "heartbeat",
  payload_version: "v1",
  qos: 1,
  is_active: true,
};

function useTopicMutations(siteId: number) {
  const client = useQueryClient();
  const refresh = () => {
    void client.invalidateQueries({ queryKey: queryKeys.siteTopics(siteId) });
    void client.invalidateQueries({ queryKey: queryKeys.siteStatus(siteId) });
  };
  return {
    add: useMutation({ mutationFn: (input: SubscriptionInput) => api.addTopic(siteId, input), onSuccess: refresh }),
    patch: useMutation({
      mutationFn: ({ id, patch }: { id: number; patch: Partial<SubscriptionInput> }) => api.patchTopic(siteId, id, patch),
      onSuccess: refresh,
    }),
    remove: useMutation({ mutationFn: (id: number) => api.deleteTopic(siteId, id), onSuccess: refresh }),
  };
}

function SubscriptionFields({ value, onChange }: { value: SubscriptionInput; onChange: (v: SubscriptionInput) => void }) {
  const { t } = useTranslation();
  return (
    <>
      <input
        className="mono grow"
        placeholder="datalogger/{model}/{serial}/heartbeat"
        value={value.pattern}
        onChange={(event) => onChange({ ...value, pattern: event.target.value })}
        aria-label={t("topics.pattern")}
        data-testid="topic-pattern"
      />
      <select
        value={value.device_kind}
        onChange={(event) => onChange({ ...value, device_kind: event.target.value as DeviceKind })}
        aria-label={t("topics.deviceKind")}
      >
        <option value="datalogger">{t("topics.kinds.datalogger")}</option>
        <option value="gateway">{t("topics.kinds.gateway")}</option>
      </select>
      <select
        value={value.message_kind}
        onChange={(event) => onChange({ ...value, message_kind: event.target.value as MessageKind })}
        aria-label={t("topics.messageKind")}
      >
        <option value="heartbeat">{t("topics.kinds.heartbeat")}</option>
        <option value="status">{t("topics.kinds.status")}</option>
      </select>
      <input
        className="narrow"
        value={value.payload_version}
        onChange={(event) => onChange({ ...value, payload_version: event.target.value })}
        aria-label={t("topics.payloadVersion")}
      />
      <select
        value={value.qos}
        onChange={(event) => onChange({ ...value, qos: Number(event.target.value) as Qos })}
        aria-label="QoS"
      >
        <option value={0}>QoS 0</option>
        <option value={1}>QoS 1</option>
        <option value={2}>QoS 2</option>
      </select>
    </>
  );
}

function TopicRow({ topic, siteId }: { topic: Subscription; siteId: number }) {
  const { t } = useTranslation();
  const { patch, remove } = useTopicMutations(siteId);
  const [editing, setEditing] = useState<SubscriptionInput | null>(null);
  if (editing) {
    return (
      <li className="topic-row editing">
        <SubscriptionFields value={editing} onChange={setEditing} />
        <button
          type="button"
          className="button primary"
          disabled={patch.isPending}
          onClick={() => patch.mutate({ id: topic.id, patch: editing }, { onSuccess: () => setEditing(null) })}
        >
          {t("common.save")}
        </button>
        <button type="button" className="button ghost" onClick={() => setEditing(null)}>
          {t("common.cancel")}
        </button>
        <ErrorText error={patch.error} />
      </li>
    );
  }
  return (
    <li className={`topic-row${topic.is_active ? "" : " inactive"}`} data-testid="topic-row">
      <span className="mono grow" title={topic.mqtt_filter}>
        {topic.pattern}
        <span className="muted small block">{topic.mqtt_filter}</span>
      </span>
      <span className="tag">{t(`topics.kinds.${topic.device_kind}`)}</span>
      <span className="tag">{t(`topics.kinds.${topic.message_kind}`)}</span>
      <span className="tag">{topic.payload_version}</span>
      <span className="tag">QoS {topic.qos}</span>
      <label className="check">
        <input
          type="checkbox"
          checked={topic.is_active}
          disabled={patch.isPending}
          onChange={(event) => patch.mutate({ id: topic.id, patch: { is_active: event.target.checked } })}
        />{" "}
        {t("topics.active")}
      </label>
      <button
        type="button"
        className="button ghost"
        onClick={() =>
          setEditing({
            pattern: topic.pattern,
            device_kind: topic.device_kind,
            message_kind: topic.message_kind,
            payload_version: topic.payload_version,
            qos: topic.qos,
            is_active: topic.is_active,
          })
        }
      >
        {t("common.edit")}
      </button>
      <button
        type="button"
        className="button ghost danger"
        disabled={remove.isPending}
        onClick={() => {
          if (window.confirm(t("topics.confirmRemove", { pattern: topic.pattern }))) remove.mutate(topic.id);
        }}
      >
        {t("common.remove")}
      </button>
      <ErrorText error={patch.error ?? remove.error} />
    </li>
  );
}

export function TopicsEditor({ siteId }: { siteId: number }) {
  const { t } = useTranslation();
  const topics = useSiteTopics(siteId);
  const { add } = useTopicMutations(siteId);
  const [draft, setDraft] = useState<SubscriptionInput>(BLANK);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate(draft, { onSuccess: () => setDraft(BLANK) });
  };
  if (topics.data === undefined) return <Loading error={topics.error} onRetry={() => void topics.refetch()} />;
  return (
    <div>
      <p className="muted small">
        <Trans i18nKey="topics.help" components={{ code: <code /> }} />
      </p>
      <ul className="plain topic-list">
        {topics.data.topics.map((topic) => (
          <TopicRow key={topic.id} topic={topic} siteId={siteId} />
        ))}
      </ul>
      <form className="topic-row adding" onSubmit={submit}>
        <SubscriptionFields value={draft} onChange={setDraft} />
        <button type="submit" className="button primary" disabled={add.isPending || !draft.pattern.trim()} data-testid="topic-add">
          {t("common.add")}
        </button>
      </form>
      <ErrorText error={add.error} />
    </div>
  );
}
