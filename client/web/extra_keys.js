// The session view's touch controls: a keyboard button over the session (shown on touch screens)
// that opens the phone's keyboard (soft_keyboard.js's text field), and with it an extra-keys bar
// for the keys a phone keyboard lacks: Ctrl and Alt (sticky: tap once and they apply to the next
// key or character, shown pressed until then), Esc, Tab, arrows, Home/End/PgUp/PgDn and F1–F12
// (behind "Fn"). What they type goes to the canvas as input.js TYPE_EVENT events, so the display
// client of the moment (reconnects make a new one) sends it, and nothing is sent while no session
// is live. Loaded by index.html on its own; it knows the page only by the ids below.

import { KEYMAP } from './keymap.js';
import { TYPE_EVENT } from './input.js';
import { SoftKeyboard } from './soft_keyboard.js';

// [label shown, screen-reader name, evdev code]. A name contains the label (WCAG 2.5.3, label in
// name: a voice user says what they see); symbols get a name of words.
const KEYS = [
  ['Esc', 'Esc', KEYMAP.Escape],
  ['Tab', 'Tab', KEYMAP.Tab],
  ['←', 'Left arrow', KEYMAP.ArrowLeft],
  ['↑', 'Up arrow', KEYMAP.ArrowUp],
  ['↓', 'Down arrow', KEYMAP.ArrowDown],
  ['→', 'Right arrow', KEYMAP.ArrowRight],
  ['Home', 'Home', KEYMAP.Home],
  ['End', 'End', KEYMAP.End],
  ['PgUp', 'PgUp (page up)', KEYMAP.PageUp],
  ['PgDn', 'PgDn (page down)', KEYMAP.PageDown],
];
const F_KEYS = Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, `F${i + 1}`, KEYMAP[`F${i + 1}`]]);
const MODIFIERS = [['Ctrl', 'Ctrl', KEYMAP.ControlLeft], ['Alt', 'Alt', KEYMAP.AltLeft]];

function button(label, name, attrs = {}) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (name !== label) b.setAttribute('aria-label', name);
  for (const [k, v] of Object.entries(attrs)) b.setAttribute(k, v);
  return b;
}

/**
 * The keyboard button and the extra-keys bar of one session view. `canvas` receives what they
 * type; the button goes into `screenArea`, the bar at the end of `sessionView`.
 */
export class TouchKeys {
  #canvas;
  #field;
  #bar;
  #toggle;
  #fnRow;
  #fnToggle;
  #hide;
  #modifierButtons = [];

  constructor({ canvas, screenArea, sessionView }) {
    this.#canvas = canvas;
    this.#toggle = button('⌨', 'Show keyboard', {
      id: 'keyboard-toggle', class: 'keyboard-toggle', 'aria-expanded': 'false', 'aria-controls': 'extra-keys',
      title: 'Show the keyboard and extra keys',
    });
    screenArea.append(this.#toggle);

    this.#bar = document.createElement('div');
    this.#bar.id = 'extra-keys';
    this.#bar.className = 'extra-keys';
    this.#bar.hidden = true;
    this.#field = document.createElement('textarea');
    Object.assign(this.#field, { id: 'soft-keyboard', className: 'soft-keyboard-field', spellcheck: false, rows: 1 });
    for (const [k, v] of Object.entries({
      autocapitalize: 'off', autocomplete: 'off', autocorrect: 'off', 'aria-label': 'Type into the session',
      'data-soft-keyboard': '', enterkeyhint: 'enter',
    })) this.#field.setAttribute(k, v);

    const row = document.createElement('div');
    row.className = 'extra-keys-row';
    row.setAttribute('role', 'toolbar');
    row.setAttribute('aria-label', 'Extra keys');
    // The floating button is hidden while the bar is open (the bar would cover it): this one closes.
    this.#hide = button('⌨', 'Hide keyboard', { class: 'keyboard-hide', title: 'Hide the keyboard and extra keys' });
    row.append(this.#hide);
    for (const [label, name, code] of MODIFIERS) {
      const b = button(label, name, { 'aria-pressed': 'false', 'data-modifier': String(code), class: 'modifier' });
      this.#modifierButtons.push(b);
      row.append(b);
    }
    for (const [label, name, code] of KEYS) row.append(button(label, name, { 'data-key': String(code) }));
    this.#fnToggle = button('Fn', 'Fn (function keys F1 to F12)', { 'aria-expanded': 'false', 'aria-controls': 'extra-keys-f' });
    row.append(this.#fnToggle);
    this.#fnRow = document.createElement('div');
    this.#fnRow.id = 'extra-keys-f';
    this.#fnRow.className = 'extra-keys-row';
    this.#fnRow.setAttribute('role', 'toolbar');
    this.#fnRow.setAttribute('aria-label', 'Function keys');
    this.#fnRow.hidden = true;
    for (const [label, name, code] of F_KEYS) this.#fnRow.append(button(label, name, { 'data-key': String(code) }));
    this.#bar.append(this.#field, this.#fnRow, row);
    sessionView.append(this.#bar);

    const emit = (detail) => this.#canvas.dispatchEvent(new CustomEvent(TYPE_EVENT, { detail }));
    new SoftKeyboard(this.#field, { emit, modifiers: () => this.#takeModifiers() }).attach(new AbortController().signal);

    this.#toggle.addEventListener('click', () => this.show(true));
    // Tapping a bar key must not take the focus from the text field (that would close the phone's
    // keyboard): the focus moves on mousedown, also for a tap.
    this.#bar.addEventListener('mousedown', (e) => {
      if (e.target !== this.#field) e.preventDefault();
    });
    this.#bar.addEventListener('click', (e) => this.#onBarClick(e));
    this.#field.addEventListener('blur', (e) => {
      // Focus moved elsewhere on the page (not to the bar or the keyboard button): done typing.
      const to = e.relatedTarget;
      if (to && !this.#bar.contains(to) && to !== this.#toggle) this.show(false);
    });
    // The session view closing (the session ended, Disconnect) closes the bar too, so the next
    // session starts with the keyboard button, not a bar without a keyboard.
    new MutationObserver(() => {
      if (sessionView.hidden && !this.#bar.hidden) this.show(false);
    }).observe(sessionView, { attributes: true, attributeFilter: ['hidden'] });
    // Chrome on Android shrinks only the visual viewport for its keyboard: keep the bar above it.
    window.visualViewport?.addEventListener('resize', () => this.#followKeyboard());
    window.visualViewport?.addEventListener('scroll', () => this.#followKeyboard());
  }

  /** Shows (focusing the text field, which opens the phone's keyboard) or hides the bar. */
  show(on) {
    this.#bar.hidden = !on;
    this.#toggle.hidden = on;
    this.#toggle.setAttribute('aria-expanded', String(on));
    if (on) {
      this.#followKeyboard();
      this.#field.focus({ preventScroll: true });
    } else {
      this.#clearModifiers();
      const hadFocus = this.#bar.contains(document.activeElement);
      if (document.activeElement === this.#field) this.#field.blur();
      if (hadFocus) this.#toggle.focus({ preventScroll: true });
    }
  }

  #onBarClick(e) {
    const b = e.target.closest('button');
    if (!b) return;
    if (b === this.#hide) {
      this.show(false);
      return;
    }
    if (b === this.#fnToggle) {
      this.#fnRow.hidden = !this.#fnRow.hidden;
      b.setAttribute('aria-expanded', String(!this.#fnRow.hidden));
    } else if (b.dataset.modifier) {
      b.setAttribute('aria-pressed', String(b.getAttribute('aria-pressed') !== 'true'));
    } else if (b.dataset.key) {
      this.#canvas.dispatchEvent(new CustomEvent(TYPE_EVENT, { detail: { keys: [...this.#takeModifiers(), Number(b.dataset.key)] } }));
    }
    if (document.activeElement !== this.#field) this.#field.focus({ preventScroll: true });
  }

  // The latched modifiers (evdev codes), released from the bar: they apply to one key.
  #takeModifiers() {
    const codes = this.#modifierButtons.filter((b) => b.getAttribute('aria-pressed') === 'true').map((b) => Number(b.dataset.modifier));
    this.#clearModifiers();
    return codes;
  }

  #clearModifiers() {
    for (const b of this.#modifierButtons) b.setAttribute('aria-pressed', 'false');
  }

  #followKeyboard() {
    const vv = window.visualViewport;
    const covered = vv ? Math.max(0, window.innerHeight - vv.height - vv.offsetTop) : 0;
    this.#bar.style.bottom = `${Math.round(covered)}px`;
  }
}

const canvas = globalThis.document?.getElementById('screen');
if (canvas) {
  new TouchKeys({ canvas, screenArea: document.getElementById('screen-area'), sessionView: document.getElementById('session-view') });
}
