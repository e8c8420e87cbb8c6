import { useSyncExternalStore } from "react";

/** Whether a CSS media query matches now; re-renders the caller when that changes. */
export function useMediaQuery(query: string): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const list = window.matchMedia(query);
      list.addEventListener("change", onChange);
      return () => list.removeEventListener("change", onChange);
    },
    () => window.matchMedia(query).matches,
    () => false,
  );
}

/** Phones held upright (the 390 px of the issue), where tables become cards. */
export const PHONE = "(max-width: 700px)";
/** Tablets and narrow windows, where the least useful columns step aside. */
export const NARROW = "(max-width: 1100px)";
