// REST calls to the broker (/api/v1, cookie session). Errors carry the HTTP status and the
// broker's error code and message ({"error":{"code","message"}}).

const API = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json'; // the broker's CSRF guard requires it
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch {
    throw new ApiError(0, 'network', 'The broker cannot be reached.');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error ?? {};
    throw new ApiError(res.status, err.code ?? `http_${res.status}`, err.message ?? `HTTP ${res.status} ${res.statusText}`);
  }
  return data;
}

/** "user:alice, group:staff" -> [{user:"alice"},{group:"staff"}]; throws on a malformed item. */
export function parseEntitlements(text) {
  const out = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(user|group):(.+)$/.exec(part);
    if (!m) throw new ApiError(0, 'bad_input', `Entitlement "${part}" must be user:NAME or group:NAME.`);
    out.push({ [m[1]]: m[2].trim() });
  }
  return out;
}

export function formatEntitlements(list) {
  return (list ?? []).map((e) => (e.user ? `user:${e.user}` : `group:${e.group}`)).join(', ');
}
