// A small picture of a session as this tab last showed it, for the portal's session list. The
// broker has no picture of a session nobody is viewing, so this is never a live view and the
// portal labels it "last seen" with its time. Kept in sessionStorage (this tab, a few KB a
// session) and forgotten when the session ends.

const WIDTH = 240; // CSS px of the list's picture, at most
const QUALITY = 0.7;
const key = (id) => `portico.lastSeen.${id}`;

/** Keeps a JPEG of `canvas` (scaled to WIDTH) for session `id`; storage refusing it loses only the picture. */
export function saveLastSeen(storage, id, canvas, now = Date.now()) {
  if (!storage || !canvas.width || !canvas.height) return;
  const w = Math.min(WIDTH, canvas.width);
  const h = Math.max(1, Math.round((canvas.height * w) / canvas.width));
  const small = document.createElement('canvas');
  small.width = w;
  small.height = h;
  small.getContext('2d').drawImage(canvas, 0, 0, w, h);
  try {
    storage.setItem(key(id), JSON.stringify({ at: now, jpeg: small.toDataURL('image/jpeg', QUALITY) }));
  } catch {
    // full or refused: no picture for this session
  }
}

/** The picture kept for `id` as { at, blob } (a Blob the page can show through a blob: URL), or null. */
export function lastSeen(storage, id) {
  let saved;
  try {
    saved = JSON.parse(storage?.getItem(key(id)) ?? 'null');
  } catch {
    return null;
  }
  const m = /^data:image\/jpeg;base64,([A-Za-z0-9+/=]+)$/.exec(saved?.jpeg ?? '');
  if (!m || !Number.isFinite(saved.at)) return null;
  const bytes = Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0));
  return { at: saved.at, blob: new Blob([bytes], { type: 'image/jpeg' }) };
}

/** Drops the picture of a session that ended. */
export function forgetLastSeen(storage, id) {
  try {
    storage?.removeItem(key(id));
  } catch {
    // nothing kept
  }
}
