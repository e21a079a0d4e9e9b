// The one place that talks to /api/liff: attaches the ID token and the LIFF app's id, and
// turns error bodies into ApiError (status, code, details).
import { idToken, liffId, relogin } from "./liff";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: Record<string, any> = {},
  ) {
    super(message);
  }
}

export async function api<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {
    Authorization: `Bearer ${idToken() || ""}`,
    "X-Liff-Id": liffId,
    Accept: "application/json",
  };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/liff${path}`, {
    method: init.method || "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) relogin();
    throw new ApiError(response.status, data.error || "error", data.message || "", data.details || {});
  }
  return data as T;
}
