import { useToastState, useToastStore } from "../live/ToastContext";

export function Toasts() {
  const { toasts, dropped } = useToastState();
  const store = useToastStore();
  return (
    <div className="toasts" role="status" aria-live="polite">
      {dropped > 0 && (
        <button type="button" className="toast toast-more" onClick={() => store.clearDropped()}>
          +{dropped} more
        </button>
      )}
      {toasts.map((toast) => (
        <div key={toast.id} className={`toast toast-${toast.tone}`} data-testid="toast">
          <span>{toast.text}</span>
          <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => store.dismiss(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
