// Keyboard, pointer, wheel and touch input from the canvas to the session: characters go as
// KeyChar (the host types them whatever its layout), other keys by physical code (keymap.js);
// pointer positions in session pixels; wheel and two-finger scrolling in notches; touch gestures
// (tap, long-press, drag, two-finger scroll, pinch to zoom the view: zoom.js); text and keys from
// the on-screen keyboard and extra-keys bar (soft_keyboard.js, extra_keys.js), which arrive as
// TYPE_EVENT events on the canvas. Every key and button the host believes held is released when
// the page loses focus or the session ends.

import {
  encodeKey, encodeKeyChar, encodePointer, encodeRelativePointer, encodeWheel, isTypableCodePoint, MAX_RELATIVE_MOTION,
} from './protocol.js';
import { evdevCode, usKeyFor, KEYMAP } from './keymap.js';
import { clamp } from './util.js';
import { ViewZoom, pinchView } from './zoom.js';

const WHEEL_PIXELS_PER_NOTCH = 100;
const WHEEL_LINES_PER_NOTCH = 3;
const DOM_DELTA_LINE = 1; // WheelEvent.deltaMode values
const DOM_DELTA_PAGE = 2;
const POINTER_BACKLOG_BYTES = 64 * 1024; // drop plain moves while this much is unsent
const PASTE_WAIT_MS = 150; // how long a paste shortcut waits for the browser's paste event
const TOUCH_SLOP_PX = 8; // a finger moving less than this is a tap, not a drag
const TOUCH_PIXELS_PER_NOTCH = 40; // two-finger scroll distance per wheel notch
export const LONG_PRESS_MS = 500; // a finger held this long without moving is a right click
// Two fingers whose distance changes this much before their midpoint moves TOUCH_SLOP_PX pinch
// (zoom the view); otherwise they scroll.
const PINCH_SLOP_PX = 16;
const BUTTON_LEFT = 1; // protocol button bits
const BUTTON_RIGHT = 4;

/**
 * The event the on-screen keyboard and the extra-keys bar dispatch on the canvas, with `detail`
 * { text, modifiers } (characters typed, with latched modifier keys as evdev codes),
 * { backspaces } or { keys } (evdev codes pressed together, in order).
 */
export const TYPE_EVENT = 'portico:type';

const SHIFT = KEYMAP.ShiftLeft;
// Characters of typed text that are keys, not KeyChar (a soft keyboard's Enter puts a line break
// into its text field).
const CHAR_KEYS = new Map([['\n', KEYMAP.Enter], ['\r', KEYMAP.Enter], ['\t', KEYMAP.Tab]]);

/**
 * What two fingers are doing, from where they started and where they are now ({x, y, distance}:
 * midpoint and distance): 'pinch' when the distance changed by PINCH_SLOP_PX first, 'scroll'
 * when the midpoint moved TOUCH_SLOP_PX first, null while neither.
 */
export function twoFingerGesture(from, to) {
  if (Math.abs(to.distance - from.distance) >= PINCH_SLOP_PX) return 'pinch';
  if (Math.hypot(to.x - from.x, to.y - from.y) >= TOUCH_SLOP_PX) return 'scroll';
  return null;
}

/** Midpoint and distance of two fingers ({clientX, clientY} each). */
export function fingerPair(a, b) {
  return { x: (a.clientX + b.clientX) / 2, y: (a.clientY + b.clientY) / 2, distance: Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY) };
}

/**
 * The character a key event produced, as a code point to send with KeyChar, or undefined when the
 * key should go by its physical code instead: named keys (Enter, arrows …), shortcuts with
 * Ctrl/Alt/Meta (but not AltGr, which only selects characters), and anything not typable.
 */
export function producedChar(e) {
  if (typeof e.key !== 'string' || e.key.length === 0 || e.key.length > 2) return undefined;
  const cp = e.key.codePointAt(0);
  if (String.fromCodePoint(cp) !== e.key) return undefined; // more than one character
  const altGraph = typeof e.getModifierState === 'function' && e.getModifierState('AltGraph');
  if ((e.ctrlKey || e.altKey || e.metaKey) && !altGraph) return undefined;
  return isTypableCodePoint(cp) ? cp : undefined;
}

/** True for the key combinations with which browsers paste (the paste event follows). */
export function isPasteShortcut(e) {
  const v = e.code === 'KeyV' || e.key === 'v' || e.key === 'V';
  return ((e.ctrlKey || e.metaKey) && !e.altKey && v) || (e.shiftKey && !e.ctrlKey && e.code === 'Insert');
}

/** DOM MouseEvent.buttons (1 left, 2 right, 4 middle) as the protocol has them (1 left, 2 middle, 4 right). */
export const protocolButtons = (b) => (b & 1) | (b & 4 ? 2 : 0) | (b & 2 ? 4 : 0);

/**
 * The session pixel at client coordinates (x, y) on a canvas of backing size width x height laid
 * out at `rect` (getBoundingClientRect), or null when the canvas has no size on the page.
 */
export function sessionPixel(rect, x, y, width, height) {
  if (rect.width === 0 || rect.height === 0) return null;
  return {
    x: clamp(Math.floor(((x - rect.left) * width) / rect.width), 0, width - 1),
    y: clamp(Math.floor(((y - rect.top) * height) / rect.height), 0, height - 1),
  };
}

/** Wheel deltas of any unit summed into whole notches (one per ~100 px, per 3 lines or per page). */
export class WheelNotches {
  #x = 0;
  #y = 0;

  /** Adds one wheel event's deltas; the whole notches to send ({dx, dy}, 16-bit), or null for none yet. */
  add(deltaX, deltaY, deltaMode) {
    const unit = deltaMode === DOM_DELTA_LINE ? WHEEL_PIXELS_PER_NOTCH / WHEEL_LINES_PER_NOTCH
      : deltaMode === DOM_DELTA_PAGE ? WHEEL_PIXELS_PER_NOTCH : 1;
    this.#x += deltaX * unit;
    this.#y += deltaY * unit;
    const dx = Math.trunc(this.#x / WHEEL_PIXELS_PER_NOTCH);
    const dy = Math.trunc(this.#y / WHEEL_PIXELS_PER_NOTCH);
    if (dx === 0 && dy === 0) return null;
    this.#x -= dx * WHEEL_PIXELS_PER_NOTCH;
    this.#y -= dy * WHEEL_PIXELS_PER_NOTCH;
    return { dx: clamp(dx, -0x8000, 0x7fff), dy: clamp(dy, -0x8000, 0x7fff) };
  }

  /** Forgets a partial notch. */
  reset() {
    this.#x = this.#y = 0;
  }
}

/**
 * Relative pointer motion (movementX/Y under Pointer Lock) gathered between sends, so a fast mouse
 * costs one RelativePointer per animation frame, not one per event.
 */
export class RelativeMotion {
  #dx = 0;
  #dy = 0;

  add(dx, dy) {
    this.#dx += Math.round(dx);
    this.#dy += Math.round(dy);
  }

  get pending() { return this.#dx !== 0 || this.#dy !== 0; }

  /** The motion so far as [dx, dy] (a remainder beyond what one message carries stays). */
  take() {
    const clamp = (v) => Math.max(-MAX_RELATIVE_MOTION, Math.min(MAX_RELATIVE_MOTION, v));
    const dx = clamp(this.#dx), dy = clamp(this.#dy);
    this.#dx -= dx;
    this.#dy -= dy;
    return [dx, dy];
  }

  reset() { this.#dx = 0; this.#dy = 0; }
}

/**
 * Forwards one canvas's input to the session. Needs:
 *   send(bytes)  the display channel;
 *   live()  true while input may flow (connected, not logging off);
 *   backlog()  bytes the channel has not sent yet (plain pointer moves are dropped above 64 KiB);
 *   onShortcut(event)  sees every key event first; returning true keeps it from the session;
 *   onKeyPress()  a key press went to the host (its echo is timed);
 *   onPaste(text)  the browser's paste event brought local text (it must reach the session
 *     before the key that makes the app paste);
 *   onPointerMode(state)  the pointer's state changed: 'absolute' (the session takes positions),
 *     'released' (the session is relative, the pointer not captured: a click captures it) or
 *     'captured' (Pointer Lock: motion goes as RelativePointer).
 */
export class InputForwarder {
  #canvas;
  #send;
  #live;
  #backlog;
  #onShortcut;
  #onKeyPress;
  #onPaste;
  #onPointerMode;

  #heldKeys = new Set();
  // Characters sent with KeyChar, by the physical key that produced them (the release sends the
  // same character even if the modifiers changed meanwhile).
  #heldChars = new Map();
  #pendingPaste = null; // a paste shortcut waiting for the browser's paste event
  #pointer = { x: -1, y: -1, buttons: 0 };
  #wheel = new WheelNotches();
  // The session's pointer is relative (PointerMode): motion goes as RelativePointer under Pointer Lock.
  #relative = false;
  #motion = new RelativeMotion();
  #motionFrame = 0;
  #relButtons = 0; // buttons held while captured

  // Touch: fingers on the canvas and what they are doing.
  #touches = new Map();
  // null | 'pending' (one finger, not yet a tap, drag or long-press) | 'drag' | 'held' (a
  // long-press clicked; nothing more until every finger lifts) | 'two' (two fingers, not yet a
  // scroll or pinch) | 'scroll' | 'pinch' | 'done' (a two-finger gesture ended; the rest lift)
  #touchMode = null;
  #touchStart = null;
  #touchScrollY = 0;
  #longPressTimer = 0;
  #pinch = null; // { view, from } when the two fingers began

  constructor(canvas, { send, live, backlog, onShortcut, onKeyPress, onPaste, onPointerMode = () => {} }) {
    this.#canvas = canvas;
    this.#send = send;
    this.#live = live;
    this.#backlog = backlog;
    this.#onShortcut = onShortcut;
    this.#onKeyPress = onKeyPress;
    this.#onPaste = onPaste;
    this.#onPointerMode = onPointerMode;
  }

  /** Listens to the canvas (and the page's focus and visibility) until `signal` aborts. */
  attach(signal) {
    const opts = { signal };
    const c = this.#canvas;
    c.addEventListener('keydown', (e) => this.#onKey(e, true), opts);
    c.addEventListener('keyup', (e) => this.#onKey(e, false), opts);
    for (const type of ['pointerdown', 'pointerup', 'pointermove', 'pointercancel']) {
      c.addEventListener(type, (e) => this.#onPointerEvent(e), opts);
    }
    c.addEventListener('wheel', (e) => this.#onWheel(e), { ...opts, passive: false });
    c.addEventListener('contextmenu', (e) => e.preventDefault(), opts);
    c.addEventListener('paste', (e) => this.#onPasteEvent(e), opts);
    c.addEventListener(TYPE_EVENT, (e) => this.#onTyped(e.detail), opts);
    c.addEventListener('blur', () => this.release(), opts);
    // Escape (the browser's own) or anything else ending Pointer Lock hands the pointer back.
    document.addEventListener('pointerlockchange', () => this.#onLockChange(), opts);
    document.addEventListener('pointerlockerror', () => this.#onPointerMode(this.#pointerState()), opts);
    window.addEventListener('blur', () => this.release(), opts);
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.release();
    }, opts);
  }

  /**
   * Presses keys the browser would swallow (Ctrl+Alt+Del, Ctrl+W …): every evdev code goes down in
   * order, then up in reverse order. False when not live.
   */
  keyCombo(codes) {
    if (!this.#live()) return false;
    for (const c of codes) this.#send(encodeKey(true, c));
    for (const c of [...codes].reverse()) this.#send(encodeKey(false, c));
    return true;
  }

  /** Lets go of every key and button the host still thinks is held (no stuck modifiers). */
  release() {
    if (this.#pendingPaste) {
      clearTimeout(this.#pendingPaste.timer);
      this.#pendingPaste = null;
    }
    for (const held of this.#heldChars.values()) this.#send(encodeKeyChar(false, held.cp, held.code));
    this.#heldChars.clear();
    for (const code of this.#heldKeys) this.#send(encodeKey(false, code));
    this.#heldKeys.clear();
    this.#touches.clear();
    this.#touchMode = null;
    clearTimeout(this.#longPressTimer);
    const p = this.#pointer;
    if (p.buttons !== 0 && p.x >= 0) {
      p.buttons = 0;
      this.#send(encodePointer(p.x, p.y, 0));
    }
    if (this.#relButtons !== 0) {
      this.#relButtons = 0;
      this.#send(encodeRelativePointer(0, 0, 0));
    }
    this.#motion.reset();
    this.#wheel.reset();
  }

  /** The session's PointerMode: relative asks for Pointer Lock on the next click. */
  setPointerMode(relative) {
    if (relative === this.#relative) return;
    this.#relative = relative;
    if (!relative && this.#locked()) document.exitPointerLock?.();
    this.#motion.reset();
    this.#onPointerMode(this.#pointerState());
  }

  #locked() { return document.pointerLockElement === this.#canvas; }

  #pointerState() {
    if (!this.#relative) return 'absolute';
    return this.#locked() ? 'captured' : 'released';
  }

  #onLockChange() {
    if (!this.#locked()) {
      // Buttons held when the lock ended are let go; pending motion stays on the client.
      this.#flushMotion();
      if (this.#relButtons !== 0 && this.#live()) this.#send(encodeRelativePointer(0, 0, 0));
      this.#relButtons = 0;
    }
    this.#onPointerMode(this.#pointerState());
  }

  /** Drops a paste shortcut still waiting for its paste event (the session is over). */
  close() {
    if (this.#motionFrame) cancelAnimationFrame(this.#motionFrame);
    this.#motionFrame = 0;
    if (this.#locked()) document.exitPointerLock?.();
    clearTimeout(this.#pendingPaste?.timer);
    clearTimeout(this.#longPressTimer);
    this.#pendingPaste = null;
  }

  /**
   * Text and keys from the on-screen keyboard (TYPE_EVENT). Characters go as KeyChar like a
   * physical keyboard's, line breaks and tabs as Enter and Tab; with latched modifiers (Ctrl, Alt
   * from the extra-keys bar) a character goes as its US-layout key under those modifiers, since an
   * app session lifts held modifiers while it types a KeyChar (a character no US key types then
   * goes as KeyChar, without them).
   */
  #onTyped(d) {
    if (!d || !this.#live()) return;
    if (Array.isArray(d.keys)) {
      this.#onKeyPress();
      this.keyCombo(d.keys);
      return;
    }
    for (let i = 0; i < (d.backspaces ?? 0); i++) this.keyCombo([KEYMAP.Backspace]);
    const modifiers = d.modifiers ?? [];
    for (const ch of d.text ?? '') {
      this.#onKeyPress();
      const named = CHAR_KEYS.get(ch);
      const us = usKeyFor(ch);
      if (named) {
        this.keyCombo([...modifiers, named]);
      } else if (modifiers.length && us) {
        this.keyCombo([...modifiers, ...(us.shift ? [SHIFT] : []), us.code]);
      } else if (isTypableCodePoint(ch.codePointAt(0))) {
        const code = us && !us.shift ? us.code : 0;
        this.#send(encodeKeyChar(true, ch.codePointAt(0), code));
        this.#send(encodeKeyChar(false, ch.codePointAt(0), code));
      }
    }
  }

  #onKey(e, down) {
    if (this.#onShortcut(e)) {
      e.preventDefault();
      return;
    }
    if (e.isComposing || e.key === 'Process') return; // an input method is composing
    // A dead key only prepares a character on this side; the composed character follows. Caps Lock
    // and Num Lock are this keyboard's state, already reflected in the characters sent. (AltGr
    // itself still goes as a key, for sessions that type by physical key; app sessions lift it
    // while they type a character.)
    if (e.key === 'Dead' || e.code === 'CapsLock' || e.code === 'NumLock') {
      e.preventDefault();
      return;
    }
    if (!down && this.#heldChars.has(e.code)) {
      e.preventDefault();
      const held = this.#heldChars.get(e.code);
      this.#heldChars.delete(e.code);
      if (this.#live()) this.#send(encodeKeyChar(false, held.cp, held.code));
      return;
    }
    const cp = down ? producedChar(e) : undefined;
    if (cp !== undefined) {
      // Sent as the character: the host types it whatever its own layout is.
      e.preventDefault();
      if (!this.#live()) return;
      const held = { cp, code: evdevCode(e.code) ?? 0 };
      this.#heldChars.set(e.code, held);
      this.#onKeyPress();
      this.#send(encodeKeyChar(true, held.cp, held.code));
      return;
    }
    const code = evdevCode(e.code);
    if (code === undefined) return;
    if (down && isPasteShortcut(e) && this.#live()) {
      // Let the browser run its paste (no preventDefault): the paste event brings the local text,
      // which must reach the session before the key that makes the app paste.
      this.#heldKeys.add(code);
      clearTimeout(this.#pendingPaste?.timer);
      this.#pendingPaste = { code, released: false, timer: setTimeout(() => this.#flushPaste(), PASTE_WAIT_MS) };
      return;
    }
    e.preventDefault();
    if (!this.#live()) return;
    if (!down && this.#pendingPaste?.code === code) {
      this.#pendingPaste.released = true;
      return;
    }
    if (down) {
      this.#heldKeys.add(code); // repeats are forwarded as further downs, as X expects
      this.#onKeyPress();
      this.#send(encodeKey(true, code));
    } else if (this.#heldKeys.delete(code)) {
      this.#send(encodeKey(false, code));
    }
  }

  // The paste shortcut's key goes out once the clipboard text did (or the browser sent none).
  #flushPaste() {
    const p = this.#pendingPaste;
    if (!p) return;
    clearTimeout(p.timer);
    this.#pendingPaste = null;
    if (!this.#live()) return;
    this.#send(encodeKey(true, p.code));
    if (p.released && this.#heldKeys.delete(p.code)) this.#send(encodeKey(false, p.code));
  }

  #onPasteEvent(e) {
    e.preventDefault();
    const text = e.clipboardData?.getData('text/plain');
    if (text) this.#onPaste(text);
    this.#flushPaste();
  }

  #onPointerEvent(e) {
    if (e.pointerType === 'touch') {
      this.#onTouch(e);
      return;
    }
    if (this.#relative) {
      this.#onRelativePointer(e);
      return;
    }
    if (e.type === 'pointerdown') {
      this.#canvas.focus();
      this.#capturePointer(e.pointerId);
    }
    if (!this.#live()) return;
    const pos = this.#screenPos(e);
    if (!pos) return;
    const buttons = e.type === 'pointercancel' ? 0 : protocolButtons(e.buttons);
    this.#sendPointer(pos.x, pos.y, buttons);
  }

  // The session's pointer is relative. Not captured: a click asks for Pointer Lock (the click is
  // the page's, not the session's) and motion stays local. Captured: motion is summed and sent
  // once per animation frame; a button change goes at once with the motion so far.
  #onRelativePointer(e) {
    if (!this.#locked()) {
      if (e.type === 'pointerdown') {
        this.#canvas.focus();
        const asked = this.#canvas.requestPointerLock?.();
        asked?.catch?.(() => this.#onPointerMode(this.#pointerState())); // refused: stay released
      }
      return;
    }
    if (!this.#live()) return;
    if (e.type === 'pointermove') {
      this.#motion.add(e.movementX ?? 0, e.movementY ?? 0);
      if (!this.#motionFrame) this.#motionFrame = requestAnimationFrame(() => this.#flushMotion());
      return;
    }
    const buttons = e.type === 'pointercancel' ? 0 : protocolButtons(e.buttons);
    if (buttons === this.#relButtons) return;
    this.#relButtons = buttons;
    const [dx, dy] = this.#motion.take();
    this.#send(encodeRelativePointer(dx, dy, buttons));
  }

  #flushMotion() {
    if (this.#motionFrame) cancelAnimationFrame(this.#motionFrame);
    this.#motionFrame = 0;
    if (!this.#motion.pending) return;
    if (!this.#live() || !this.#locked()) {
      this.#motion.reset();
      return;
    }
    const [dx, dy] = this.#motion.take();
    this.#send(encodeRelativePointer(dx, dy, this.#relButtons));
    if (this.#motion.pending) this.#motionFrame = requestAnimationFrame(() => this.#flushMotion());
  }

  // Keeps a drag's events coming when it leaves the canvas. A pointer the browser no longer
  // tracks (lifted already, or synthetic) cannot be captured; that is harmless.
  #capturePointer(id) {
    try {
      this.#canvas.setPointerCapture?.(id);
    } catch {
      // not capturable
    }
  }

  #screenPos(e) {
    const c = this.#canvas;
    return sessionPixel(c.getBoundingClientRect(), e.clientX, e.clientY, c.width, c.height);
  }

  #sendPointer(x, y, buttons) {
    const p = this.#pointer;
    if (p.x === x && p.y === y && p.buttons === buttons) return;
    // Under backlog, skip plain moves; button changes always go out.
    if (buttons === p.buttons && this.#backlog() > POINTER_BACKLOG_BYTES) return;
    Object.assign(p, { x, y, buttons });
    this.#send(encodePointer(x, y, buttons));
  }

  /**
   * Touch: a tap clicks; one finger held LONG_PRESS_MS without moving right-clicks; one finger
   * moving drags with button 1; two fingers either scroll (wheel: they move together) or pinch
   * (their distance changes first): the view zooms (1x..4x) around the point between them and
   * follows them as they move, so a pinch also pans. A press waits until the finger moves, lifts
   * or is held, so a second finger can still turn it into a scroll or pinch without a stray click.
   */
  #onTouch(e) {
    e.preventDefault();
    if (e.type === 'pointerdown') {
      // Typing on the phone's keyboard (its text field has the focus) goes on after a tap.
      if (!document.activeElement?.hasAttribute?.('data-soft-keyboard')) this.#canvas.focus();
      this.#capturePointer(e.pointerId);
    }
    if (!this.#live()) return;
    const pos = this.#screenPos(e);
    if (!pos) return;
    const t = this.#touches;
    const centroidY = () => [...t.values()].reduce((s, v) => s + v.clientY, 0) / t.size;
    if (e.type === 'pointerdown') {
      t.set(e.pointerId, { clientX: e.clientX, clientY: e.clientY });
      if (t.size === 1) {
        this.#touchMode = 'pending';
        this.#touchStart = { ...pos, clientX: e.clientX, clientY: e.clientY };
        this.#sendPointer(pos.x, pos.y, 0);
        clearTimeout(this.#longPressTimer);
        this.#longPressTimer = setTimeout(() => this.#longPress(), LONG_PRESS_MS);
      } else if (t.size === 2) {
        clearTimeout(this.#longPressTimer);
        if (this.#touchMode === 'drag') this.#sendPointer(this.#pointer.x, this.#pointer.y, 0);
        this.#touchMode = this.#touchMode === 'held' ? 'done' : 'two';
        this.#touchScrollY = centroidY();
        this.#pinch = { view: this.#zoom().view, from: this.#pair() };
      }
      return;
    }
    if (!t.has(e.pointerId)) return;
    if (e.type === 'pointermove') {
      t.set(e.pointerId, { clientX: e.clientX, clientY: e.clientY });
      if (this.#touchMode === 'two') {
        this.#touchMode = twoFingerGesture(this.#pinch.from, this.#pair()) ?? 'two';
        // The pinch starts from where the fingers are now: no jump by the slop.
        if (this.#touchMode === 'pinch') this.#pinch = { view: this.#zoom().view, from: this.#pair() };
      }
      if (this.#touchMode === 'pinch') {
        const zoom = this.#zoom();
        const box = zoom.box();
        const rel = (p) => ({ x: p.x - box.left, y: p.y - box.top, distance: p.distance });
        zoom.set(pinchView(this.#pinch.view, rel(this.#pinch.from), rel(this.#pair()), box.width, box.height));
        return;
      }
      if (this.#touchMode === 'scroll') {
        const y = centroidY();
        // Fingers moving up scroll the content down, as on any touch screen.
        const notches = Math.trunc((this.#touchScrollY - y) / TOUCH_PIXELS_PER_NOTCH);
        if (notches !== 0) {
          this.#touchScrollY -= notches * TOUCH_PIXELS_PER_NOTCH;
          this.#send(encodeWheel(0, clamp(notches, -0x8000, 0x7fff)));
        }
        return;
      }
      const s0 = this.#touchStart;
      if (this.#touchMode === 'pending' && Math.hypot(e.clientX - s0.clientX, e.clientY - s0.clientY) >= TOUCH_SLOP_PX) {
        clearTimeout(this.#longPressTimer);
        this.#touchMode = 'drag';
        this.#sendPointer(s0.x, s0.y, BUTTON_LEFT);
      }
      if (this.#touchMode === 'drag') this.#sendPointer(pos.x, pos.y, BUTTON_LEFT);
      return;
    }
    // pointerup / pointercancel
    t.delete(e.pointerId);
    clearTimeout(this.#longPressTimer);
    if (this.#touchMode === 'pending' && e.type === 'pointerup') {
      const s0 = this.#touchStart;
      this.#sendPointer(s0.x, s0.y, BUTTON_LEFT);
      this.#sendPointer(s0.x, s0.y, 0);
    } else if (this.#touchMode === 'drag') {
      this.#sendPointer(pos.x, pos.y, 0);
    }
    if (t.size === 0) this.#touchMode = null;
    else if (this.#touchMode !== null) this.#touchMode = 'done'; // one of two fingers lifted
  }

  // A finger held still: a right click (button 3 down and up) where it was pressed.
  #longPress() {
    if (this.#touchMode !== 'pending' || !this.#live()) return;
    const s0 = this.#touchStart;
    this.#touchMode = 'held';
    this.#sendPointer(s0.x, s0.y, BUTTON_RIGHT);
    this.#sendPointer(s0.x, s0.y, 0);
  }

  #pair() {
    const [a, b] = [...this.#touches.values()];
    return fingerPair(a, b);
  }

  #zoom() {
    return ViewZoom.of(this.#canvas);
  }

  #onWheel(e) {
    e.preventDefault();
    if (!this.#live()) return;
    const n = this.#wheel.add(e.deltaX, e.deltaY, e.deltaMode);
    if (n) this.#send(encodeWheel(n.dx, n.dy));
  }
}
