/**
 * A table that renders only the rows in view, so thousands of rows cost what thirty do.
 * Columns share one CSS grid template; headers of sortable columns sort on click.
 */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef, type ReactNode } from "react";
import type { SortState } from "../data/sorting";

export interface Column<T, K extends string> {
  key: K;
  header: string;
  /** A CSS grid track: "120px", "2fr", "minmax(8rem, 1fr)". */
  width: string;
  render: (row: T) => ReactNode;
  sortable?: boolean;
  align?: "left" | "right";
}

interface Props<T, K extends string> {
  rows: readonly T[];
  columns: readonly Column<T, K>[];
  rowKey: (row: T) => string | number;
  sort?: SortState<K>;
  onSort?: (key: K) => void;
  rowHeight?: number;
  /** CSS max height of the scrolling body. */
  maxHeight?: string;
  empty?: ReactNode;
  testId?: string;
  rowTestId?: string;
}

export function VirtualTable<T, K extends string>({
  rows,
  columns,
  rowKey,
  sort,
  onSort,
  rowHeight = 40,
  maxHeight = "60vh",
  empty = "Nothing here.",
  testId,
  rowTestId,
}: Props<T, K>) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 10,
    getItemKey: (index) => {
      const row = rows[index];
      return row === undefined ? index : rowKey(row);
    },
  });
  const template = columns.map((column) => column.width).join(" ");

  return (
    <div className="vtable" role="table" data-testid={testId} aria-rowcount={rows.length}>
      <div className="vtable-head" role="row" style={{ gridTemplateColumns: template }}>
        {columns.map((column) => {
          const active = sort?.key === column.key;
          const label = active ? `${column.header} ${sort.direction === "asc" ? "▲" : "▼"}` : column.header;
          return (
            <div
              key={column.key}
              role="columnheader"
              className={`vtable-cell${column.align === "right" ? " right" : ""}`}
              aria-sort={active ? (sort.direction === "asc" ? "ascending" : "descending") : undefined}
            >
              {column.sortable && onSort ? (
                <button type="button" className="sort-button" onClick={() => onSort(column.key)}>
                  {label}
                </button>
              ) : (
                label
              )}
            </div>
          );
        })}
      </div>
      {rows.length === 0 ? (
        <div className="vtable-empty muted">{empty}</div>
      ) : (
        <div ref={scrollRef} className="vtable-body" style={{ maxHeight }}>
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((item) => {
              const row = rows[item.index];
              if (row === undefined) return null;
              return (
                <div
                  key={item.key}
                  role="row"
                  className="vtable-row"
                  data-testid={rowTestId}
                  style={{ gridTemplateColumns: template, height: item.size, transform: `translateY(${item.start}px)` }}
                >
                  {columns.map((column) => (
                    <div key={column.key} role="cell" className={`vtable-cell${column.align === "right" ? " right" : ""}`}>
                      {column.render(row)}
                    </div>
                  ))}
                </div>
              );
            })}
          </div>
        </div>
      )}
    </div>
  );
}
