// The in-session menu: one panel with every session action (clipboard, keys to send, view, stats,
// full screen, disconnect, log off), opened by the toolbar's handle or Ctrl+Alt+Shift. Opening it
// moves the keyboard off the remote screen onto the menu's first control (the page's way out of a
// canvas that sends Tab to the session); Escape or the shortcut closes it and gives the keyboard
// back to the screen. A non-modal dialog: Tab moves on to the rest of the page, a click outside
// closes it.

/** The zoom steps of the menu's Zoom buttons (the view's scale; pinching may land in between). */
export const ZOOM_LEVELS = [1, 1.25, 1.5, 2, 3, 4];

/** The next zoom step above (direction 1) or below (-1) `scale`, kept within the steps. */
export function zoomStep(scale, direction) {
  const eps = 1e-6;
  if (direction > 0) return ZOOM_LEVELS.find((z) => z > scale + eps) ?? ZOOM_LEVELS.at(-1);
  return ZOOM_LEVELS.findLast((z) => z < scale - eps) ?? ZOOM_LEVELS[0];
}

export class SessionMenu {
  #panel;
  #handle;
  #screen;
  #onClose;
  #onOpen;

  /**
   * panel: the dialog element; handle: the toolbar button that opens it; screen: the canvas that
   * gets the keyboard back; onOpen(): called as it opens (to refresh what it shows); onClose():
   * called when it closes (to fold its sub-panels).
   */
  constructor({ panel, handle, screen, onOpen = () => {}, onClose = () => {} }) {
    this.#panel = panel;
    this.#handle = handle;
    this.#screen = screen;
    this.#onClose = onClose;
    this.#onOpen = onOpen;
    handle.addEventListener('click', () => this.toggle());
    panel.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || e.defaultPrevented) return; // a sub-panel closed itself first
      e.preventDefault();
      this.close();
    });
    // A press anywhere else (the screen, the toolbar) closes it; the handle toggles by itself.
    document.addEventListener('pointerdown', (e) => {
      if (this.isOpen && !panel.contains(e.target) && !handle.contains(e.target)) this.close({ focusScreen: false });
    }, true);
  }

  get isOpen() { return !this.#panel.hidden; }

  /** Shows the menu with the keyboard on its first control. */
  open() {
    this.#onOpen();
    this.#panel.hidden = false;
    this.#handle.setAttribute('aria-expanded', 'true');
    this.#panel.querySelector('button:not([disabled]), [tabindex="0"]')?.focus();
  }

  /** Hides the menu; by default the keyboard goes back to the remote screen. */
  close({ focusScreen = true } = {}) {
    if (!this.isOpen) return;
    this.#panel.hidden = true;
    this.#handle.setAttribute('aria-expanded', 'false');
    this.#onClose();
    if (focusScreen) this.#screen.focus();
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }
}
