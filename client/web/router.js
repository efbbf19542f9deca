// One URL per session: the portal is the page itself ("/", no fragment) and a session is
// "#/session/<id>". A fragment needs nothing from the broker (it serves index.html at "/" and never
// sees the fragment), and Back, Forward and Reload move between the two like any page.

const SESSION_PREFIX = '#/session/';

/** The route a location's hash names: { session: id } or { session: null } for the portal. */
export function parseRoute(hash) {
  if (typeof hash !== 'string' || !hash.startsWith(SESSION_PREFIX)) return { session: null };
  let id;
  try {
    id = decodeURIComponent(hash.slice(SESSION_PREFIX.length));
  } catch {
    return { session: null }; // a malformed escape: treat as the portal
  }
  return { session: id || null };
}

/** The hash for a session's URL. */
export function sessionHash(id) {
  return `${SESSION_PREFIX}${encodeURIComponent(id)}`;
}

/**
 * The page's history as the portal uses it. A session opened from the portal pushes its URL, so
 * Back returns to the portal; a session opened from its URL (reload, bookmark) has no portal entry
 * behind it, so leaving it replaces the URL with the portal's instead of leaving the site.
 */
export class Router {
  #history;
  #location;

  /** onChange(route) runs on Back/Forward (popstate). */
  constructor({ onChange, win = globalThis.window }) {
    this.#history = win.history;
    this.#location = win.location;
    win.addEventListener('popstate', () => onChange(this.current()));
  }

  current() {
    return parseRoute(this.#location.hash);
  }

  /** The URL now names session `id`: a new entry after the portal, else the entry is replaced. */
  showSession(id) {
    const hash = sessionHash(id);
    if (this.#location.hash === hash) return;
    if (this.current().session === null) this.#history.pushState({ fromPortal: true }, '', hash);
    else this.#history.replaceState({ fromPortal: Boolean(this.#history.state?.fromPortal) }, '', hash);
  }

  /** The URL is the portal's again (the session view was left from the page, not by Back). */
  showPortal() {
    if (this.current().session === null) return;
    if (this.#history.state?.fromPortal) this.#history.back();
    else this.#history.replaceState(null, '', this.#location.pathname + this.#location.search);
  }
}
