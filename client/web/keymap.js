// KeyboardEvent.code (the physical key) -> Linux evdev key code (linux/input-event-codes.h).
// The client sends physical keys; the remote keyboard layout decides which character they type.

const letters = {
  KeyQ: 16, KeyW: 17, KeyE: 18, KeyR: 19, KeyT: 20, KeyY: 21, KeyU: 22, KeyI: 23, KeyO: 24, KeyP: 25,
  KeyA: 30, KeyS: 31, KeyD: 32, KeyF: 33, KeyG: 34, KeyH: 35, KeyJ: 36, KeyK: 37, KeyL: 38,
  KeyZ: 44, KeyX: 45, KeyC: 46, KeyV: 47, KeyB: 48, KeyN: 49, KeyM: 50,
};

const digits = {
  Digit1: 2, Digit2: 3, Digit3: 4, Digit4: 5, Digit5: 6,
  Digit6: 7, Digit7: 8, Digit8: 9, Digit9: 10, Digit0: 11,
};

const punctuation = {
  Minus: 12, Equal: 13, BracketLeft: 26, BracketRight: 27, Semicolon: 39, Quote: 40,
  Backquote: 41, Backslash: 43, Comma: 51, Period: 52, Slash: 53,
  IntlBackslash: 86, // KEY_102ND, the extra key of the 105-key layout
  IntlRo: 89, IntlYen: 124,
};

const functionKeys = {
  F1: 59, F2: 60, F3: 61, F4: 62, F5: 63, F6: 64, F7: 65, F8: 66, F9: 67, F10: 68,
  F11: 87, F12: 88,
  F13: 183, F14: 184, F15: 185, F16: 186, F17: 187, F18: 188,
  F19: 189, F20: 190, F21: 191, F22: 192, F23: 193, F24: 194,
};

const control = {
  Escape: 1, Backspace: 14, Tab: 15, Enter: 28, Space: 57, CapsLock: 58,
  ShiftLeft: 42, ShiftRight: 54, ControlLeft: 29, ControlRight: 97,
  AltLeft: 56, AltRight: 100, MetaLeft: 125, MetaRight: 126,
  OSLeft: 125, OSRight: 126, // older names of MetaLeft/MetaRight
  ContextMenu: 127, // KEY_COMPOSE, which X maps to Menu
  PrintScreen: 99, // KEY_SYSRQ
  ScrollLock: 70, Pause: 119, NumLock: 69,
  Insert: 110, Delete: 111, Home: 102, End: 107, PageUp: 104, PageDown: 109,
  ArrowUp: 103, ArrowDown: 108, ArrowLeft: 105, ArrowRight: 106,
  // Japanese and Korean keys
  Convert: 92, NonConvert: 94, KanaMode: 93, Lang1: 122, Lang2: 123,
  AudioVolumeMute: 113, AudioVolumeDown: 114, AudioVolumeUp: 115,
};

const numpad = {
  Numpad0: 82, Numpad1: 79, Numpad2: 80, Numpad3: 81, Numpad4: 75,
  Numpad5: 76, Numpad6: 77, Numpad7: 71, Numpad8: 72, Numpad9: 73,
  NumpadDecimal: 83, NumpadAdd: 78, NumpadSubtract: 74, NumpadMultiply: 55,
  NumpadDivide: 98, NumpadEnter: 96, NumpadEqual: 117, NumpadComma: 121,
};

export const KEYMAP = Object.freeze({
  ...letters, ...digits, ...punctuation, ...functionKeys, ...control, ...numpad,
});

/** The evdev code for a KeyboardEvent.code, or undefined for keys we do not forward. */
export function evdevCode(code) {
  return Object.hasOwn(KEYMAP, code) ? KEYMAP[code] : undefined;
}

// The physical key of a US keyboard that types each ASCII character, and whether Shift is needed:
// for characters from a phone's keyboard that must go as a key (Ctrl+C from the extra-keys bar,
// where an app session would lift a held Ctrl to type the character itself).
const US_SHIFTED = '~!@#$%^&*()_+{}|:"<>?';
const US_PLAIN = '`1234567890-=[]\\;\',./';
const US_CODES = ['Backquote', 'Digit1', 'Digit2', 'Digit3', 'Digit4', 'Digit5', 'Digit6', 'Digit7', 'Digit8',
  'Digit9', 'Digit0', 'Minus', 'Equal', 'BracketLeft', 'BracketRight', 'Backslash', 'Semicolon', 'Quote',
  'Comma', 'Period', 'Slash'];

/** {code, shift} of the US-layout key typing the ASCII character `ch`, or undefined. */
export function usKeyFor(ch) {
  if (/^[a-z]$/.test(ch)) return { code: KEYMAP[`Key${ch.toUpperCase()}`], shift: false };
  if (/^[A-Z]$/.test(ch)) return { code: KEYMAP[`Key${ch}`], shift: true };
  if (ch === ' ') return { code: KEYMAP.Space, shift: false };
  let i = US_PLAIN.indexOf(ch);
  if (i >= 0 && ch.length === 1) return { code: KEYMAP[US_CODES[i]], shift: false };
  i = US_SHIFTED.indexOf(ch);
  if (i >= 0 && ch.length === 1) return { code: KEYMAP[US_CODES[i]], shift: true };
  return undefined;
}
