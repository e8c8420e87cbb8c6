import { useLiveState } from "../live/LiveContext";

const WORDS = { connecting: "connecting", live: "live", reconnecting: "reconnecting" } as const;

export function LiveIndicator() {
  const state = useLiveState();
  return (
    <span className={`live live-${state}`} data-testid="live-indicator" data-state={state} title="Live event stream">
      <span className="live-dot" />
      {WORDS[state]}
    </span>
  );
}
