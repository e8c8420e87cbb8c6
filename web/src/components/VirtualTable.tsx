/**
 * A table that renders only the rows in view, so thousands of rows cost what thirty do.
 * Columns share one CSS grid template; headers of sortable columns sort on click.
 *
 * On narrow screens columns step aside by priority (3 below 1100 px, 2 and 3 on phones), and
 * a table given `card` draws each row as a card on phones, with a sort picker in place of
 * the header, so that no page ever scrolls sideways.
 */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import type { SortState } from "../data/sorting";
import { NARROW, PHONE, useMediaQuery } from "../hooks/useMediaQuery";

export interface Column<T, K extends string> {
  key: K;
  header: string;
  /** A CSS grid track: "120px", "2fr", "minmax(8rem, 1fr)". */
  width: string;
  render: (row: T) => ReactNode;
  sortable?: boolean;
  align?: "left" | "right";
  /** 1 (default) always shows; 2 hides on phones; 3 also hides on narrow screens. */
  priority?: 1 | 2 | 3;
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
  /** A row as a card, for phones; `cardHeight` px tall (the card clips what does not fit). */
  card?: (row: T) => ReactNode;
  cardHeight?: number;
  /** Extra class names of a row (a selected one, say). */
  rowClass?: (row: T) => string;
}

/** On narrow screens a column's minimum gives way, so that the grid fits its box. */
function narrowTrack(width: string): string {
  return width.replace(/minmax\([^,]+,/, "minmax(0,");
}

const tableRole = (count: number) => ({ role: "table", "aria-rowcount": count }) as const;

export function VirtualTable<T, K extends string>({
  rows,
  columns,
  rowKey,
  sort,
  onSort,
  rowHeight = 40,
  maxHeight = "60vh",
  empty,
  testId,
  rowTestId,
  card,
  cardHeight = 96,
  rowClass,
}: Props<T, K>) {
  const { t } = useTranslation();
  const phone = useMediaQuery(PHONE);
  const narrow = useMediaQuery(NARROW);
  const cards = phone && card !== undefined;
  const limit = phone ? 1 : narrow ? 2 : 3;
  const shown = columns.filter((column) => (column.priority ?? 1) <= limit);
  const height = cards ? cardHeight : rowHeight;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => height,
    overscan: 10,
    getItemKey: (index) => {
      const row = rows[index];
      return row === undefined ? index : rowKey(row);
    },
  });
  const template = shown.map((column) => (narrow ? narrowTrack(column.width) : column.width)).join(" ");
  const sortable = columns.filter((column) => column.sortable);

  return (
    // As cards the rows are a list (a table's rows would need cells and a header row).
    <div className={`vtable${cards ? " vtable-cards" : ""}`} data-testid={testId} {...(cards ? {} : tableRole(rows.length))}>
      {cards ? (
        sort && onSort && sortable.length > 0 ? (
          <div className="vtable-sort">
            <label className="inline">
              {t("table.sortBy")}
              <select value={sort.key} onChange={(event) => onSort(event.target.value as K)}>
                {sortable.map((column) => (
                  <option key={column.key} value={column.key}>
                    {column.header}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="button"
              className="button ghost"
              onClick={() => onSort(sort.key)}
              aria-label={sort.direction === "asc" ? t("table.ascending") : t("table.descending")}
            >
              {sort.direction === "asc" ? "▲" : "▼"}
            </button>
          </div>
        ) : null
      ) : (
        <div className="vtable-head" role="row" style={{ gridTemplateColumns: template }}>
          {shown.map((column) => {
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
      )}
      {rows.length === 0 ? (
        <div className="vtable-empty muted">{empty ?? t("table.empty")}</div>
      ) : (
        <div ref={scrollRef} className="vtable-body" style={{ maxHeight }} role={cards ? "list" : undefined}>
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {virtualizer.getVirtualItems().map((item) => {
              const row = rows[item.index];
              if (row === undefined) return null;
              const extra = rowClass ? ` ${rowClass(row)}` : "";
              const place = { height: item.size, transform: `translateY(${item.start}px)` };
              if (cards && card) {
                return (
                  <div key={item.key} role="listitem" className={`vtable-row vtable-card${extra}`} data-testid={rowTestId} style={place}>
                    <div className="vtable-card-body">{card(row)}</div>
                  </div>
                );
              }
              return (
                <div
                  key={item.key}
                  role="row"
                  className={`vtable-row${extra}`}
                  data-testid={rowTestId}
                  style={{ ...place, gridTemplateColumns: template }}
                >
                  {shown.map((column) => (
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
