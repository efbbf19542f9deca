// A user's favourite resources (starred) and the ones they launched last, kept in this browser's
// localStorage per user name: the broker keeps no such preference, and a star is a matter of this
// person at this device. Storage that is full, refused (private mode) or holds junk loses the
// preference, never the portal.

export const RECENT_MAX = 4;

const key = (user) => `portico.resources.${user}`;

/** A user's favourites and recent launches (resource ids), backed by `storage`. */
export class ResourcePrefs {
  #storage;
  #user;
  #favourites = new Set();
  #recent = []; // most recent first

  constructor(storage, user) {
    this.#storage = storage;
    this.#user = user;
    try {
      const saved = JSON.parse(storage?.getItem(key(user)) ?? 'null');
      if (Array.isArray(saved?.favourites)) this.#favourites = new Set(saved.favourites.filter((x) => typeof x === 'string'));
      if (Array.isArray(saved?.recent)) this.#recent = saved.recent.filter((x) => typeof x === 'string').slice(0, RECENT_MAX);
    } catch {
      // unreadable: start empty
    }
  }

  isFavourite(id) { return this.#favourites.has(id); }

  /** Stars or unstars `id`; returns whether it is a favourite now. */
  toggleFavourite(id) {
    if (!this.#favourites.delete(id)) this.#favourites.add(id);
    this.#save();
    return this.#favourites.has(id);
  }

  /** `id` was launched: first in the recent list, which keeps RECENT_MAX. */
  launched(id) {
    this.#recent = [id, ...this.#recent.filter((x) => x !== id)].slice(0, RECENT_MAX);
    this.#save();
  }

  /** Recent resource ids, most recent first. */
  get recent() { return [...this.#recent]; }

  /**
   * The resources in the order the portal shows them: favourites first, each group in the
   * broker's order.
   */
  ordered(resources) {
    return [...resources.filter((r) => this.isFavourite(r.id)), ...resources.filter((r) => !this.isFavourite(r.id))];
  }

  #save() {
    try {
      this.#storage?.setItem(key(this.#user), JSON.stringify({ favourites: [...this.#favourites], recent: this.#recent }));
    } catch {
      // full or refused: the preference lasts this page only
    }
  }
}
