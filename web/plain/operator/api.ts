/**
 * The REST calls of the plain operator page. Signed in by password, the session cookie authenticates
 * both the API and the socket; signed in with a pasted API token, it goes in the Authorization header
 * (and in the socket's hello).
 */
export interface Auth {
  token: string | null;
  userId: number | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field: string | null,
  ) {
    super(message);
  }
}

export async function api<T>(
  auth: Auth,
  method: string,
  path: string,
  body?: unknown,
  raw = false,
): Promise<T> {
  const headers: Record<string, string> = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (!response.ok) {
    const data = (await response.json().catch(() => ({}))) as {
      error?: { message?: string; field?: string | null };
    };
    throw new ApiError(
      response.status,
      data.error?.message ?? `HTTP ${response.status}`,
      data.error?.field ?? null,
    );
  }
  if (raw) return (await response.blob()) as T;
  return (await response.json()) as T;
}

export interface Me {
  principal: {
    accountId: number | null;
    userId: number | null;
    role: string | null;
    via: 'token' | 'session';
  } | null;
  account: { id: number; name: string } | null;
}
