/**
 * A server's 400 next to the field it names. The API answers validation errors as one
 * `detail` string that starts with the field ("min: a threshold needs min or max"; several
 * joined with "; "), and the forms show each part under its own input. What names no field
 * of the form (or is not a 400) is kept whole, to be shown at the form's foot.
 */

import { ApiError } from "../api/client";

export interface FieldErrors {
  /** By field name: the server's words after "field: ". */
  fields: Record<string, string>;
  /** What belongs to no field of the form, or null. */
  other: string | null;
}

const PART = /^\s*([A-Za-z_][A-Za-z0-9_]*)(?:[.[][^:]*)?:\s*(.+)$/s;

export function fieldErrorsOf(error: unknown, fields: readonly string[]): FieldErrors {
  const result: FieldErrors = { fields: {}, other: null };
  if (!error) return result;
  if (!(error instanceof ApiError) || error.status !== 400) {
    result.other = error instanceof ApiError ? error.detail || `HTTP ${error.status}` : error instanceof Error ? error.message : String(error);
    return result;
  }
  const rest: string[] = [];
  for (const part of error.detail.split("; ")) {
    const match = PART.exec(part);
    const field = match?.[1];
    const message = match?.[2];
    if (field !== undefined && message !== undefined && fields.includes(field)) {
      // Two problems with one field: both are said.
      result.fields[field] = result.fields[field] ? `${result.fields[field]}; ${message}` : message;
    } else if (part.trim()) {
      rest.push(part.trim());
    }
  }
  result.other = rest.length > 0 ? rest.join("; ") : null;
  return result;
}
