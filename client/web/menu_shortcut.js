// The session menu's shortcut, as Guacamole has it: Ctrl+Alt+Shift pressed together and released
// with no other key in between. It is recognised on release, so Ctrl+Alt+Shift+<key> shortcuts
// (the stats overlay's Ctrl+Alt+Shift+S) stay possible.
//
// What the session sees: modifiers go to the session as they are pressed, because holding one alone
// (Shift-click, Ctrl-hover) must work and nothing can know yet that a chord is starting; the
// modifier that completes the chord is held back and never sent. The first two are released in the
// session the normal way (their key-ups pass, and the canvas losing focus to the menu releases
// everything held), so no modifier is left stuck.

const MODIFIER = {
  ControlLeft: 'ctrl', ControlRight: 'ctrl',
  AltLeft: 'alt', AltRight: 'alt',
  ShiftLeft: 'shift', ShiftRight: 'shift',
};

/** Recognises Ctrl+Alt+Shift pressed and released alone, from a page's key events. */
export class MenuChord {
  #down = new Map(); // modifier key code -> 'ctrl' | 'alt' | 'shift', while held
  #withheld = null; // the key code that completed the chord (its press was not sent)
  #complete = false; // all three were down together
  #spoiled = false; // another key took part: a Ctrl+Alt+Shift+<key> shortcut, not the menu

  /**
   * Feeds one keydown or keyup. Returns { swallow, open }: swallow — keep this event from the
   * session; open — the chord was just released alone: open (or close) the menu.
   */
  key(e) {
    const down = e.type === 'keydown';
    const mod = MODIFIER[e.code];
    if (!mod) {
      if (down && this.#down.size > 0) this.#spoiled = true;
      return { swallow: false, open: false };
    }
    if (down) {
      if (this.#down.has(e.code)) return { swallow: e.code === this.#withheld, open: false }; // auto-repeat
      this.#down.set(e.code, mod);
      if (!this.#complete && !this.#spoiled && new Set(this.#down.values()).size === 3) {
        this.#complete = true;
        this.#withheld = e.code;
        return { swallow: true, open: false };
      }
      return { swallow: false, open: false };
    }
    if (!this.#down.delete(e.code)) return { swallow: false, open: false }; // pressed before we looked
    const swallow = e.code === this.#withheld;
    if (this.#down.size > 0) return { swallow, open: false };
    const open = this.#complete && !this.#spoiled;
    this.reset();
    return { swallow, open };
  }

  /** A key combination using the modifiers was handled here (e.g. the stats shortcut): not the menu. */
  spoil() {
    this.#spoiled = true;
  }

  /** Forgets everything held (focus left: the key-ups will not come here). */
  reset() {
    this.#down.clear();
    this.#withheld = null;
    this.#complete = false;
    this.#spoiled = false;
  }
}
