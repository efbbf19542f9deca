// The phone's on-screen keyboard: a phone shows its keyboard only for a focused text field, and a
// canvas is not one. So an invisible <textarea> takes the focus (the keyboard button of
// touch.js), and what the keyboard does to its text is turned into what to type in the session.
//
// Phone keyboards rarely send usable key events: Android's report key "Unidentified" (keyCode
// 229) for letters and Backspace and compose whole words (autocorrect, swipe, IME candidates). So
// the text field's value is what counts: after every change it is compared with the value before
// (diffText), the removed characters become Backspaces and the added ones characters; during a
// composition (IME, or a word a keyboard keeps open for correction) nothing is sent, and at
// compositionend the committed text is. The field is then put back to SENTINEL, so it is never
// empty (a keyboard's Backspace on an empty field changes nothing and so would be lost) and never
// grows. Keys with a real key event (a hardware keyboard, or Enter and arrows that some soft
// keyboards report) go by key, and never change the field.

import { KEYMAP } from './keymap.js';

// Never empty, so Backspace always has something to delete; '_' joins no word a keyboard
// autocorrects.
export const SENTINEL = '________';

/** What changed from `before` to `after` as { backspaces, text }: delete that many characters at the end, then type text. */
export function diffText(before, after) {
  const a = [...before];
  const b = [...after];
  let same = 0;
  while (same < a.length && same < b.length && a[same] === b[same]) same++;
  return { backspaces: a.length - same, text: b.slice(same).join('') };
}

// Keys that reach a text field with a real key event and go to the session as keys (never as
// text). Letters, digits and Space are left to the field (the text path), except with Ctrl or Alt.
const NAMED_KEYS = {
  Enter: KEYMAP.Enter, Backspace: KEYMAP.Backspace, Tab: KEYMAP.Tab, Escape: KEYMAP.Escape,
  Delete: KEYMAP.Delete, Insert: KEYMAP.Insert, Home: KEYMAP.Home, End: KEYMAP.End,
  PageUp: KEYMAP.PageUp, PageDown: KEYMAP.PageDown, ArrowUp: KEYMAP.ArrowUp, ArrowDown: KEYMAP.ArrowDown,
  ArrowLeft: KEYMAP.ArrowLeft, ArrowRight: KEYMAP.ArrowRight,
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, KEYMAP[`F${i + 1}`]])),
};

/**
 * The evdev code of a key event the field must not see (it goes to the session as a key), or
 * undefined: what a keyboard types (text path), and the 229/"Unidentified" events of a composing
 * or soft keyboard (their effect arrives as the field's input).
 */
export function namedKeyCode(e) {
  if (e.isComposing || e.keyCode === 229 || e.key === 'Unidentified' || e.key === 'Process') return undefined;
  return Object.hasOwn(NAMED_KEYS, e.key) ? NAMED_KEYS[e.key] : undefined;
}

/**
 * Binds the text field: `emit(detail)` gets { text, modifiers }, { backspaces } or { keys } (see
 * input.js TYPE_EVENT); `modifiers()` the latched modifier keys to add (evdev codes) and clears
 * them, as a sticky key does after one use.
 */
export class SoftKeyboard {
  #field;
  #emit;
  #modifiers;
  #value = SENTINEL; // the field's value as last sent
  #composing = false;

  constructor(field, { emit, modifiers = () => [] }) {
    this.#field = field;
    this.#emit = emit;
    this.#modifiers = modifiers;
    this.#reset();
  }

  /** Listens to the field until `signal` aborts. */
  attach(signal) {
    const f = this.#field;
    const opts = { signal };
    f.addEventListener('compositionstart', () => { this.#composing = true; }, opts);
    f.addEventListener('compositionend', () => {
      this.#composing = false;
      this.#changed();
    }, opts);
    f.addEventListener('input', (e) => {
      if (this.#composing || e.isComposing) return; // sent at compositionend
      this.#changed();
    }, opts);
    f.addEventListener('keydown', (e) => this.#onKeyDown(e), opts);
    // The field lost its text place (focus moved, the keyboard was hidden): start clean next time.
    f.addEventListener('blur', () => {
      this.#composing = false;
      this.#reset();
    }, opts);
  }

  #onKeyDown(e) {
    const mods = [];
    if (e.ctrlKey) mods.push(KEYMAP.ControlLeft);
    if (e.altKey) mods.push(KEYMAP.AltLeft);
    const code = namedKeyCode(e);
    if (code !== undefined) {
      e.preventDefault();
      if (e.shiftKey) mods.push(KEYMAP.ShiftLeft);
      this.#emit({ keys: [...mods, ...this.#modifiers(), code] });
      return;
    }
    // A hardware keyboard's shortcut (Ctrl+C) on the field: a key, not text.
    if (mods.length && !e.isComposing && typeof e.key === 'string' && [...e.key].length === 1) {
      e.preventDefault();
      this.#emit({ text: e.key, modifiers: [...mods, ...this.#modifiers()] });
    }
  }

  // The field's value changed outside a composition: send the difference, then start over.
  #changed() {
    const { backspaces, text } = diffText(this.#value, this.#field.value);
    if (backspaces) this.#emit({ backspaces });
    if (text) this.#emit({ text, modifiers: this.#modifiers() });
    this.#reset();
  }

  #reset() {
    this.#value = SENTINEL;
    if (this.#field.value !== SENTINEL) this.#field.value = SENTINEL;
    // The caret at the end, where a keyboard types and deletes.
    this.#field.setSelectionRange?.(SENTINEL.length, SENTINEL.length);
  }
}
