// REST calls to the broker (/api/v1, cookie session), shared by the portal and the admin console.
// A failure is an ApiError with the HTTP status (0 = no answer) and the broker's error code and
// message ({"error":{"code","message"}}).

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
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your network connection and try again.');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw errorOf(res, data);
  return data;
}

/** A GET whose answer is not JSON (a session's thumbnail): the body as a Blob, or an ApiError. */
export async function apiBlob(path) {
  let res;
  try {
    res = await fetch(API + path, { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your network connection and try again.');
  }
  if (res.ok) return res.blob();
  throw await refusalOf(res);
}

/**
 * A POST whose answer is a file to save (a launch file): { blob, filename } from its
 * Content-Disposition, or an ApiError.
 */
export async function apiDownload(path, body) {
  let res;
  try {
    res = await fetch(API + path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { Accept: '*/*', 'Content-Type': 'application/json' }, // the CSRF guard requires JSON
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your network connection and try again.');
  }
  if (res.ok) {
    const named = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '');
    return { blob: await res.blob(), filename: named ? named[1] : 'download' };
  }
  throw await refusalOf(res);
}

/** The ApiError of a refused request whose success would have been a file (its error is JSON). */
async function refusalOf(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  return errorOf(res, data);
}

function errorOf(res, data) {
  const err = data?.error ?? {};
  return new ApiError(res.status, err.code ?? `http_${res.status}`,
    err.message ?? `The server answered ${res.status} ${res.statusText}.`);
}
