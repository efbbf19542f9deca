// Live pictures of the user's running sessions in the portal's list: each session's thumbnail
// (GET /sessions/{id}/thumbnail, a small JPEG the broker asks of the session's host) refreshed
// every REFRESH_MS while the portal is on screen and the page is visible, paused otherwise
// (document.visibilityState). When the broker has no picture, the session's "last seen" picture
// from this tab (last_seen.js) stands in, labelled as such, so a picture never claims to be live
// when it is not.

import { apiBlob } from './rest.js';

export const REFRESH_MS = 5000;

export class LiveThumbnails {
  #items = new Map(); // session id -> { figure, img, caption, name, fallback, url, live }
  #timer = null;
  #active = false;
  #fetch;
  #doc;
  #refreshMs;

  /** fetchThumbnail(id) -> Promise<Blob> (rejects when there is no picture). */
  constructor({ fetchThumbnail = (id) => apiBlob(`/sessions/${encodeURIComponent(id)}/thumbnail`), doc = document,
    refreshMs = REFRESH_MS } = {}) {
    this.#fetch = fetchThumbnail;
    this.#doc = doc;
    this.#refreshMs = refreshMs;
    doc.addEventListener('visibilitychange', () => this.#reschedule(true));
  }

  /**
   * The picture of session `id` for its list item: the last live picture at once if there is one,
   * else the fallback ({ at, blob } from last_seen.js, or null) until the live one arrives.
   */
  figure(id, name, fallback) {
    const figure = this.#doc.createElement('figure');
    figure.className = 'session-picture';
    const img = this.#doc.createElement('img');
    const caption = this.#doc.createElement('figcaption');
    caption.setAttribute('aria-hidden', 'true'); // the picture's alt text says it
    figure.append(img, caption);
    const old = this.#items.get(id);
    if (old?.fallbackUrl) URL.revokeObjectURL(old.fallbackUrl);
    const item = { figure, img, caption, name, fallback, fallbackUrl: null, url: old?.url ?? null, live: old?.live ?? false,
      refreshed: old?.refreshed ?? 0, bytes: old?.bytes ?? 0 };
    this.#items.set(id, item);
    if (item.url && item.live) this.#show(item, item.url, true);
    else this.#showFallback(item);
    if (!old) this.#refresh(id);
    this.#reschedule(false);
    return figure;
  }

  /** Forgets the sessions no longer listed (their pictures' memory goes too). */
  retain(ids) {
    const keep = new Set(ids);
    for (const [id, item] of this.#items) {
      if (keep.has(id)) continue;
      if (item.url) URL.revokeObjectURL(item.url);
      if (item.fallbackUrl) URL.revokeObjectURL(item.fallbackUrl);
      this.#items.delete(id);
    }
    this.#reschedule(false);
  }

  /** Refreshing runs only while the portal's list is on screen. */
  setActive(active) {
    const was = this.#active;
    this.#active = active;
    this.#reschedule(active && !was);
  }

  #running() {
    return this.#active && this.#doc.visibilityState === 'visible' && this.#items.size > 0;
  }

  /** (Re)arms the timer; `now`: refresh at once too (the page became visible again). */
  #reschedule(now) {
    if (!this.#running()) {
      clearTimeout(this.#timer);
      this.#timer = null;
      return;
    }
    if (now) this.#refreshAll();
    if (this.#timer === null || now) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#refreshAll();
        this.#reschedule(false);
      }, this.#refreshMs);
    }
  }

  #refreshAll() {
    for (const id of this.#items.keys()) this.#refresh(id);
  }

  async #refresh(id) {
    let blob = null;
    try {
      blob = await this.#fetch(id);
    } catch {
      blob = null; // no picture now (the session is starting, its host is slow or gone)
    }
    const item = this.#items.get(id); // the list may have been redrawn meanwhile
    if (!item) return;
    if (!blob || blob.size === 0) {
      if (item.url) URL.revokeObjectURL(item.url);
      item.url = null;
      item.live = false;
      this.#showFallback(item);
      return;
    }
    const previous = item.url;
    item.url = URL.createObjectURL(blob);
    item.live = true;
    item.refreshed++;
    item.bytes = blob.size;
    this.#show(item, item.url, true);
    if (previous) item.img.addEventListener('load', () => URL.revokeObjectURL(previous), { once: true });
  }

  #show(item, src, live, at) {
    item.figure.hidden = false;
    item.figure.classList.toggle('live', live);
    item.figure.classList.toggle('last-seen', !live);
    item.img.src = src;
    item.img.dataset.live = String(live);
    item.img.dataset.refreshed = String(item.refreshed); // for tests: which picture is shown
    if (live) item.img.dataset.bytes = String(item.bytes);
    if (live) {
      item.img.alt = `${item.name}: live view of the session's screen`;
      item.caption.textContent = 'Live view';
    } else {
      const time = new Date(at).toLocaleTimeString();
      item.img.alt = `${item.name} as last seen here at ${time}`;
      item.caption.textContent = `Last seen ${time}`;
    }
  }

  #showFallback(item) {
    if (!item.fallback) {
      item.figure.hidden = true;
      return;
    }
    if (!item.fallbackUrl) {
      item.fallbackUrl = URL.createObjectURL(item.fallback.blob);
    }
    this.#show(item, item.fallbackUrl, false, item.fallback.at);
  }
}
