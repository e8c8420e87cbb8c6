/** Sorting of table rows by one column, stable, with missing values always last. */

export type SortDirection = "asc" | "desc";

export interface SortState<K extends string> {
  key: K;
  direction: SortDirection;
}

type Sortable = string | number | boolean | null | undefined;

function compare(a: Sortable, b: Sortable): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

export function sortRows<T, K extends string>(
  rows: readonly T[],
  sort: SortState<K>,
  value: (row: T, key: K) => Sortable,
): T[] {
  const sign = sort.direction === "asc" ? 1 : -1;
  return rows
    .map((row, index) => ({ row, index, v: value(row, sort.key) }))
    .sort((x, y) => {
      const xMissing = x.v === null || x.v === undefined || x.v === "";
      const yMissing = y.v === null || y.v === undefined || y.v === "";
      if (xMissing !== yMissing) return xMissing ? 1 : -1;
      const order = xMissing ? 0 : compare(x.v, y.v) * sign;
      return order !== 0 ? order : x.index - y.index;
    })
    .map(({ row }) => row);
}

/** Clicking a column: the same column flips direction, a new one starts ascending. */
export function nextSort<K extends string>(sort: SortState<K>, key: K): SortState<K> {
  if (sort.key === key) return { key, direction: sort.direction === "asc" ? "desc" : "asc" };
  return { key, direction: "asc" };
}
