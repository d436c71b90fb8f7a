// RFC 9457 problem details as the gateway answers them, and how pages show them: the message
// of an invalid field next to that field, the rest at the top of the form.

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string | null;
  instance?: string | null;
  errors?: FieldError[];
  request_id?: string | null;
  retry_after?: number | null;
  reason?: string | null;
  /** 409 on checkout: the lines short of stock. */
  lines?: { sku: string; requested: number; available: number }[] | null;
}

/** A failed API call: its status and problem (a network error has status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

/** Builds the error of a response body that may or may not be a problem. */
export function toApiError(status: number, body: unknown): ApiError {
  if (body && typeof body === 'object') return new ApiError(status, body as Problem);
  const text = typeof body === 'string' && body.trim() ? body.trim().slice(0, 300) : undefined;
  return new ApiError(status, { status, title: statusTitle(status), detail: text });
}

function statusTitle(status: number): string {
  if (status === 0) return 'The shop cannot reach the server. Check your connection and try again.';
  if (status === 429) return 'Too many requests. Wait a moment and try again.';
  if (status >= 500) return 'The server had a problem. Try again in a moment.';
  return `Request failed (${status})`;
}

/** The message for `field` (exact, or a nested path under it like `shipping_address.city`). */
export function fieldError(err: unknown, field: string): string | undefined {
  if (!(err instanceof ApiError)) return undefined;
  const hit = err.problem.errors?.find((e) => e.field === field);
  return hit?.message;
}

/** What to show at the top of a form: the detail, plus field errors no input displays. */
export function formError(err: unknown, shownFields: readonly string[] = []): string | undefined {
  if (!err) return undefined;
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  const p = err.problem;
  const other = (p.errors ?? []).filter((e) => !shownFields.includes(e.field));
  const parts = [p.detail || p.title || err.message];
  for (const e of other) parts.push(`${e.field}: ${e.message}`);
  return parts.filter(Boolean).join(' ');
}
