// The user portal: log in, list the published resources as searchable tiles (favourites first,
// recent launches a filter away) and the user's live sessions, launch or reconnect into the session
// view (which reconnects by itself when the display connection drops; its actions live in the
// session menu), and come back to the portal when the session ends. Each session has its own URL
// (router.js). All state lives in the Portal instance.

import { DisplayClient } from './display.js';
import { launchScale, sessionPixelRatio } from './resize.js';
import { ResourcePrefs } from './favourites.js';
import { forgetLastSeen, lastSeen, saveLastSeen } from './last_seen.js';
import { LiveThumbnails } from './live_thumbnails.js';
import { MenuChord } from './menu_shortcut.js';
import { api, apiDownload, ApiError } from './rest.js';
import { Router } from './router.js';
import { SessionMenu, zoomStep } from './session_menu.js';
import { ViewZoom, zoomAround } from './zoom.js';


const $ = (selector) => document.querySelector(selector);

// Reconnect backoff after an unexpected drop: 0.5 s, 1 s, 2 s, 4 s … capped, for at most ~30 s.
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_DELAY_MS = 8000;
const RECONNECT_BUDGET_MS = 30_000;
const STATS_INTERVAL_MS = 500;
// The session list follows what happens elsewhere (another device starts, disconnects or ends a
// session; an administrator logs one off) while the portal is on screen.
const SESSION_LIST_REFRESH_MS = 5000;
const RESIZE_DEBOUNCE_MS = 300;
const MAX_SESSION_WIDTH = 3840; // the session host's largest screen (AppSession::kMaxWidth)
const MAX_SESSION_HEIGHT = 2160;

// evdev codes for the toolbar's key sequences.
const KEY = { ctrl: 29, alt: 56, del: 111 };

// Sessions whose screen exists to be pictured (not starting, not ending).
const hasPicture = (state) => state === 'active' || state === 'disconnected';
const fmt = (v, digits = 1) => (v === null || v === undefined ? '–' : v.toFixed(digits));

class Portal {
  #session = null; // { id, resource, client, reconnect: {attempt, started, timer} | null }
  #resources = [];
  // Sessions this page saw end (the host said so): the broker hears it from the host a moment
  // later, so a list fetched right after returning to the portal may still show them.
  #endedSessions = new Set();
  // Sessions this page just disconnected from, with when: the broker hears of it a moment later,
  // and until then its list would still say "Running".
  #disconnectedHere = new Map();
  #user = '';
  #fit = true;
  #statsTimer = 0;
  #resizeTimer = 0;
  #menu;
  #menuChord = new MenuChord();
  #router;
  #prefs = new ResourcePrefs(null, '');
  #resourceFilter = 'all'; // all | favourites | recent
  #thumbnails = new LiveThumbnails();
  #sessionsAsked = 0; // GET /sessions requests made: only the newest one's answer is drawn
  #sessionsDrawn = ''; // what the drawn list shows (see #listKey): an unchanged list is not redrawn
  #logoffAsked = null; // the session whose Log off in the list is asking first (a redraw keeps the question)
  #focusOnDraw = null; // the session just left: its Reconnect takes the keyboard once the newest list is drawn

  constructor() {
    this.el = {
      portal: $('#portal'), loading: $('#loading'), error: $('#error'), notice: $('#notice'),
      account: $('#account'), userName: $('#user-name'), logout: $('#logout'),
      loginView: $('#login-view'), loginForm: $('#login-form'), username: $('#username'),
      password: $('#password'), login: $('#login'),
      resourcesView: $('#resources-view'), resources: $('#resources'), noResources: $('#no-resources'),
      search: $('#search'), searchCount: $('#search-count'), noMatch: $('#no-match'),
      sessionsView: $('#sessions-view'), sessions: $('#sessions'), noSessions: $('#no-sessions'),
      sessionView: $('#session-view'), sessionName: $('#session-name'), status: $('#status'),
      sessionNotice: $('#session-notice'), shadowBanner: $('#shadow-banner'), pointerHint: $('#pointer-hint'),
      logoff: $('#logoff'), logoffBox: $('#logoff-confirm-box'), logoffConfirm: $('#logoff-confirm'),
      logoffCancel: $('#logoff-cancel'), disconnect: $('#disconnect'), screen: $('#screen'), screenArea: $('#screen-area'),
      ctrlAltDel: $('#ctrl-alt-del'), sendKeys: $('#send-keys'), sendKeysMenu: $('#send-keys-menu'),
      scaleMode: $('#scale-mode'), statsToggle: $('#stats-toggle'), stats: $('#stats'),
      reconnecting: $('#reconnecting'), fullscreen: $('#fullscreen'), sessionSection: $('#session-view'),
      clipboardToggle: $('#clipboard-toggle'), clipboardPanel: $('#clipboard-panel'),
      clipboardText: $('#clipboard-text'), clipboardSend: $('#clipboard-send'), clipboardCopy: $('#clipboard-copy'),
      menuToggle: $('#session-menu-toggle'), sessionMenu: $('#session-menu'), filters: $('#resource-filter'),
      zoomIn: $('#zoom-in'), zoomOut: $('#zoom-out'), zoomLevel: $('#zoom-level'),
    };
    this.#menu = new SessionMenu({
      panel: this.el.sessionMenu, handle: this.el.menuToggle, screen: this.el.screen,
      onOpen: () => this.#showZoom(), // a pinch may have changed it
      onClose: () => {
        this.#closeMenu();
        this.#toggleClipboard(false);
        this.#askLogoff(false);
      },
    });
    this.#router = new Router({ onChange: (route) => this.#routeChanged(route) });
    this.el.filters.addEventListener('click', (e) => {
      const b = e.target.closest('[data-filter]');
      if (b) this.#setResourceFilter(b.dataset.filter);
    });
    this.el.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.login();
    });
    this.el.logout.addEventListener('click', () => this.logout());
    this.el.search.addEventListener('input', () => this.#filter());
    // Log off ends the session's programs, so it asks first (Cancel has the focus: Enter is safe).
    this.el.logoff.addEventListener('click', () => this.#askLogoff(this.el.logoffBox.hidden));
    this.el.logoffCancel.addEventListener('click', () => this.#askLogoff(false));
    this.el.logoffConfirm.addEventListener('click', () => {
      this.#askLogoff(false);
      this.#menu.close();
      this.#logoffCurrent();
    });
    this.el.logoffBox.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      e.preventDefault(); // only the question closes, not the session menu around it
      this.#askLogoff(false);
    });
    this.el.disconnect.addEventListener('click', () => this.#disconnectCurrent());
    // The menu's one-shot actions close it: the keyboard goes back to the session.
    this.el.ctrlAltDel.addEventListener('click', () => {
      this.#menu.close();
      this.#sendCombo([KEY.ctrl, KEY.alt, KEY.del]);
    });
    this.el.sendKeys.addEventListener('click', () => this.#toggleMenu());
    this.el.sendKeysMenu.addEventListener('click', (e) => {
      const item = e.target.closest('[data-keys]');
      if (!item) return;
      this.#menu.close();
      this.#sendCombo(item.dataset.keys.split(',').map(Number));
    });
    this.el.sendKeysMenu.addEventListener('keydown', (e) => this.#menuKey(e));
    this.el.scaleMode.addEventListener('click', () => {
      this.#menu.close();
      this.#setFit(!this.#fit);
    });
    this.el.fullscreen.addEventListener('click', () => {
      this.#menu.close();
      this.#toggleFullscreen();
    });
    document.addEventListener('fullscreenchange', () => this.#fullscreenChanged());
    this.el.clipboardToggle.addEventListener('click', () => this.#toggleClipboard());
    this.el.clipboardSend.addEventListener('click', () => this.#sendClipboardText());
    this.el.clipboardCopy.addEventListener('click', () => this.#copyClipboardText());
    this.el.clipboardPanel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.#toggleClipboard(false);
        this.el.clipboardToggle.focus();
      }
    });
    this.el.zoomIn.addEventListener('click', () => this.#zoomBy(1));
    this.el.zoomOut.addEventListener('click', () => this.#zoomBy(-1));
    this.el.statsToggle.addEventListener('click', () => {
      this.#menu.close();
      this.#toggleStats();
    });
    for (const type of ['keydown', 'keyup']) {
      document.addEventListener(type, (e) => {
        if (!this.#session) return;
        if (type === 'keydown' && this.#isStatsShortcut(e)) {
          e.preventDefault();
          this.#menuChord.spoil();
          this.#toggleStats();
          return;
        }
        // Keys on the screen come through #sessionKey first; the rest (menu, toolbar) come here.
        if (e.target !== this.el.screen && this.#menuChord.key(e).open) this.#menu.toggle();
      });
    }
    window.addEventListener('blur', () => this.#menuChord.reset());
    new ResizeObserver(() => {
      this.#layout();
      // The session follows the window, but not on every intermediate size of a drag.
      clearTimeout(this.#resizeTimer);
      this.#resizeTimer = setTimeout(() => this.#requestSessionSize(), RESIZE_DEBOUNCE_MS);
    }).observe(this.el.screenArea);
    window.addEventListener('pagehide', () => this.#session?.client.close());
    setInterval(() => this.#pollSessions(), SESSION_LIST_REFRESH_MS);
    document.addEventListener('visibilitychange', () => this.#pollSessions());
    window.__porticoDebug = {
      sessionId: () => this.#session?.client.sessionId ?? this.#session?.id ?? null,
      connected: () => Boolean(this.#session?.client.connected),
      reconnecting: () => Boolean(this.#session?.reconnect),
      dropConnection: () => this.#session?.client.simulateDrop(),
      stats: () => this.#session?.client.stats() ?? null,
      clipboardPanelText: () => this.el.clipboardText.value,
    };
  }

  async start() {
    try {
      const me = await api('GET', '/me');
      await this.showResources(me.user);
    } catch (err) {
      this.showLogin();
      if (err.status !== 401) this.showError(err.message);
      return;
    }
    if (!(await this.#followRoute(this.#router.current()))) this.el.search.focus();
  }

  // --- one URL per session ------------------------------------------------------------------

  /**
   * Opens the session a URL names (reload, bookmark, Forward); true if the route named one. A
   * session that ended, or is not this user's, gets a message and the portal's URL.
   */
  async #followRoute(route) {
    if (!route.session) return false;
    let live;
    try {
      live = await api('GET', '/sessions');
    } catch (err) {
      if (err.status === 401) this.#expired();
      else this.showError(`Your sessions could not be listed: ${err.message}`);
      return true;
    }
    const s = live.find((x) => x.id === route.session && x.state !== 'ending' && !this.#endedSessions.has(x.id));
    if (!s) {
      this.#router.showPortal();
      this.showError('The session in this address has ended (or is not yours). Start it again below.');
      this.el.search.focus();
      return true;
    }
    await this.launch({ id: s.resource, name: this.#resourceName(s.resource) });
    return true;
  }

  /** Back or Forward moved between the portal's and a session's URL. */
  async #routeChanged(route) {
    if (!this.el.loginView.hidden) return; // logging in first; login() follows the route
    if (route.session === (this.#session?.id ?? null)) return;
    if (this.#session) this.#disconnectCurrent({ urlChanged: true }); // Back: the session keeps running
    if (route.session) await this.#followRoute(route);
  }

  // --- messages -----------------------------------------------------------------------------

  showError(text) {
    this.el.notice.hidden = true;
    this.el.error.textContent = text;
    this.el.error.hidden = false;
  }

  showNotice(text) {
    this.el.error.hidden = true;
    this.el.notice.textContent = text;
    this.el.notice.hidden = false;
  }

  clearMessages() {
    this.el.error.hidden = true;
    this.el.notice.hidden = true;
  }

  // --- views --------------------------------------------------------------------------------

  #showView(view) {
    const { loading, loginView, resourcesView, sessionsView, portal, sessionView, account } = this.el;
    loading.hidden = true;
    loginView.hidden = view !== 'login';
    resourcesView.hidden = view !== 'resources';
    sessionsView.hidden = view !== 'resources';
    account.hidden = view !== 'resources';
    portal.hidden = view === 'session';
    sessionView.hidden = view !== 'session';
    this.#thumbnails.setActive(view === 'resources');
  }

  showLogin() {
    this.#showView('login');
    document.title = 'Portico — log in';
    this.el.username.focus();
  }

  async showResources(user) {
    const list = await api('GET', '/resources');
    this.#user = user ?? this.#user;
    this.#resources = list;
    this.#prefs = new ResourcePrefs(globalThis.localStorage, this.#user);
    this.el.userName.textContent = this.#user;
    this.#renderResources();
    this.el.noResources.hidden = list.length > 0;
    this.el.filters.hidden = list.length === 0;
    this.#showView('resources');
    document.title = 'Portico';
    await this.refreshSessions();
  }

  /** The tiles in the filter's order: favourites first (all), or most recent first (recent). */
  #renderResources() {
    const byId = new Map(this.#resources.map((r) => [r.id, r]));
    const shown = this.#resourceFilter === 'recent' ? this.#prefs.recent.map((id) => byId.get(id)).filter(Boolean)
      : this.#resourceFilter === 'favourites' ? this.#resources.filter((r) => this.#prefs.isFavourite(r.id))
        : this.#prefs.ordered(this.#resources);
    this.el.resources.replaceChildren(...shown.map((r) => this.#resourceItem(r)));
    for (const b of this.el.filters.querySelectorAll('[data-filter]')) {
      b.setAttribute('aria-pressed', String(b.dataset.filter === this.#resourceFilter));
    }
    this.#filter();
  }

  #setResourceFilter(filter) {
    this.#resourceFilter = filter;
    this.#renderResources();
  }

  #toggleFavourite(resource) {
    this.#prefs.toggleFavourite(resource.id);
    this.#renderResources();
    // The list was rebuilt: the keyboard stays on this resource's star.
    this.el.resources.querySelector(`li[data-resource-id="${CSS.escape(resource.id)}"] .star`)?.focus();
  }

  #resourceItem(resource) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'resource tile';
    button.dataset.resourceId = resource.id;
    const kind = resource.type === 'desktop' ? 'Desktop' : 'Application';
    button.setAttribute('aria-label', `Launch ${resource.name} (${kind.toLowerCase()})`);
    const icon = document.createElement('span');
    icon.className = 'tile-icon';
    icon.setAttribute('aria-hidden', 'true');
    icon.dataset.letter = (resource.name.trim()[0] ?? '?').toUpperCase();
    const name = document.createElement('span');
    name.className = 'tile-name';
    name.textContent = resource.name;
    const type = document.createElement('span');
    type.className = 'tile-kind';
    // The letter and the kind are drawn by CSS (::after): the button's text is then only the
    // name, which its label contains ("Launch Terminal (application)"), as WCAG 2.5.3 asks.
    type.dataset.kind = kind;
    button.append(icon, name, type);
    button.addEventListener('click', () => this.launch(resource));
    const favourite = this.#prefs.isFavourite(resource.id);
    const star = document.createElement('button');
    star.type = 'button';
    star.className = 'star';
    star.textContent = favourite ? '★' : '☆';
    star.setAttribute('aria-pressed', String(favourite));
    star.setAttribute('aria-label', `Favourite: ${resource.name}`);
    star.title = favourite ? 'Remove from favourites' : 'Add to favourites (shown first)';
    star.addEventListener('click', () => this.#toggleFavourite(resource));
    const li = document.createElement('li');
    li.dataset.name = resource.name.toLowerCase();
    li.dataset.resourceId = resource.id;
    li.append(button, star, this.#openInAppButton(resource.name, { resource: resource.id }));
    return li;
  }

  #filter() {
    const q = this.el.search.value.trim().toLowerCase();
    let shown = 0;
    for (const li of this.el.resources.children) {
      const match = !q || li.dataset.name.includes(q);
      li.hidden = !match;
      if (match) shown++;
    }
    const total = this.el.resources.children.length;
    this.el.noMatch.textContent = total > 0 ? 'Nothing matches your search.'
      : this.#resourceFilter === 'favourites' ? 'No favourites yet: star an application or desktop (☆) to keep it here and first in the list.'
        : 'Nothing launched yet from this browser.';
    this.el.noMatch.hidden = !(this.#resources.length > 0 && shown === 0);
    this.el.searchCount.textContent = q ? `${shown} of ${total} shown` : '';
  }

  #resourceName(id) {
    return this.#resources.find((r) => r.id === id)?.name ?? id;
  }

  /** While the portal's list is on screen (and the page visible), the list is fetched again. */
  #pollSessions() {
    if (this.el.resourcesView.hidden || this.#session || document.visibilityState !== 'visible') return;
    this.refreshSessions();
  }

  async refreshSessions() {
    const asked = ++this.#sessionsAsked;
    let list;
    try {
      list = await api('GET', '/sessions');
    } catch (err) {
      if (err.status === 401) return;
      if (asked === this.#sessionsAsked) {
        this.showError(`Your sessions could not be listed: ${err.message}`);
        if (this.#focusOnDraw !== null && !this.el.resourcesView.hidden) this.el.search.focus();
        this.#focusOnDraw = null;
      }
      return;
    }
    if (asked !== this.#sessionsAsked) return; // a later answer is coming: an older one must not overwrite it
    if (this.el.resourcesView.hidden) return; // in a session or logged out meanwhile
    list = list.filter((s) => !this.#endedSessions.has(s.id));
    const key = this.#listKey(list);
    if (key !== this.#sessionsDrawn || this.el.sessions.children.length !== list.length) this.#drawSessions(list, key);
    if (this.#focusOnDraw !== null) {
      // Only the newest answer gets here, so the session just left is in it (or has ended).
      const left = this.el.sessions.querySelector(`li[data-session-id="${CSS.escape(this.#focusOnDraw)}"] button.reconnect`);
      this.#focusOnDraw = null;
      (left ?? this.el.sessions.querySelector('button.reconnect') ?? this.el.search).focus();
    }
  }

  /** Redrawn: the keyboard stays on the same button of the same session (or the nearest one). */
  #drawSessions(list, key) {
    const focused = document.activeElement?.closest?.('#sessions li button');
    const focusId = focused?.closest('li').dataset.sessionId;
    const focusWhich = ['session-logoff', 'logoff-confirm', 'logoff-cancel', 'open-in-app'].map((c) => `button.${c}`)
      .find((sel) => focused?.matches(sel)) ?? 'button.reconnect';
    this.el.sessions.replaceChildren(...list.map((s) => this.#sessionItem(s)));
    this.#sessionsDrawn = key;
    this.#thumbnails.retain(list.filter((s) => hasPicture(s.state)).map((s) => s.id));
    this.el.noSessions.hidden = list.length > 0;
    if (focused) {
      const again = this.el.sessions.querySelector(`li[data-session-id="${CSS.escape(focusId)}"] ${focusWhich}`);
      (again ?? this.el.sessions.querySelector('button.reconnect') ?? this.el.search).focus();
    }
  }

  /** Everything a session row shows, so that a list that shows the same is not redrawn. */
  #listKey(list) {
    return JSON.stringify(list.map((s) => [s.id, s.state, s.created_at, s.updated_at, s.host, this.#resourceName(s.resource),
      this.#disconnectedHere.get(s.id) ?? null, this.#logoffAsked === s.id]));
  }

  #sessionItem(s) {
    const name = this.#resourceName(s.resource);
    const li = document.createElement('li');
    li.dataset.sessionId = s.id;
    const info = document.createElement('div');
    info.className = 'session-info';
    const title = document.createElement('strong');
    title.textContent = name;
    const state = document.createElement('div');
    state.className = 'session-state';
    let shownState = s.state;
    let sinceAt = s.created_at;  // running (or starting) since it started
    if (shownState === 'disconnected') {
      sinceAt = s.updated_at;  // the broker's time of the last change of state: the disconnect
      this.#disconnectedHere.delete(s.id);
    } else if (shownState === 'active' && this.#disconnectedHere.has(s.id)) {
      shownState = 'disconnected';
      sinceAt = this.#disconnectedHere.get(s.id);
    }
    const since = sinceAt ? new Date(sinceAt * 1000).toLocaleTimeString() : '';
    const label = { starting: 'Starting', disconnected: 'Disconnected', ending: 'Ending' }[shownState] ?? 'Running';
    state.textContent = `${label}${since ? ` since ${since}` : ''}${s.host ? ` on ${s.host}` : ''}`;
    info.append(title, state);
    // Running or disconnected: its live picture (this tab's last-seen one when there is none).
    if (hasPicture(s.state)) li.append(this.#thumbnails.figure(s.id, name, lastSeen(globalThis.sessionStorage, s.id)));
    const reconnect = document.createElement('button');
    reconnect.type = 'button';
    reconnect.className = 'reconnect';
    reconnect.textContent = 'Reconnect';
    reconnect.setAttribute('aria-label', `Reconnect to ${name}`);
    reconnect.addEventListener('click', () => this.launch({ id: s.resource, name }));
    const off = document.createElement('button');
    off.type = 'button';
    off.className = 'secondary session-logoff';
    off.textContent = 'Log off';
    off.setAttribute('aria-label', `Log off ${name}`);
    off.addEventListener('click', () => this.#askListLogoff(s, li, true));
    // An ending session (logged off, the host is closing it) offers nothing: a launch starts anew.
    if (s.state === 'ending') li.append(info);
    else if (this.#logoffAsked === s.id) li.append(info, this.#listLogoffQuestion(s, li, name));
    else li.append(info, reconnect, this.#openInAppButton(`${name} session`, { session: s.id }), off);
    return li;
  }

  /**
   * "Open in the Portico app" for a resource or a running session (`what`: { resource } or
   * { session }; `label` completes the button's name): downloads a launch file, which the desktop hands to portico-client (its MIME
   * type is registered by the portico-client package). It lasts a minute and serves once.
   */
  #openInAppButton(label, what) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary open-in-app';
    b.textContent = 'Open in app';
    b.setAttribute('aria-label', `Open in app: ${label}`);
    b.title = 'Open in the Portico app: downloads a launch file for portico-client (valid for one minute, once)';
    b.addEventListener('click', () => this.#openInApp(label, what));
    return b;
  }

  async #openInApp(label, what) {
    let file;
    try {
      file = await apiDownload('/launch-files', what);
    } catch (err) {
      if (err.status === 401) this.#expired();
      else this.showError(`Open in app (${label}) failed: ${err.message}`);
      return;
    }
    const url = URL.createObjectURL(file.blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = file.filename;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000); // the download has its bytes by then
    this.showNotice(`${file.filename} was downloaded: open it with the Portico app within a minute.`);
  }

  /**
   * Log off from the list asks first, as the session menu's does (its programs close, unsaved work
   * is lost; on a phone it sits beside Reconnect): Log off or Cancel, Cancel focused, Escape cancels.
   */
  #listLogoffQuestion(s, li, name) {
    const box = document.createElement('div');
    box.className = 'session-logoff-question';
    box.setAttribute('role', 'group');
    const question = document.createElement('p');
    question.id = `logoff-question-${s.id}`;
    question.textContent = `Log off ${name}? Its programs close; unsaved work is lost.`;
    box.setAttribute('aria-labelledby', question.id);
    const yes = document.createElement('button');
    yes.type = 'button';
    yes.className = 'danger logoff-confirm';
    yes.textContent = 'Log off';
    yes.setAttribute('aria-label', `Log off ${name} now`);
    yes.addEventListener('click', () => {
      this.#logoffAsked = null;
      this.endSession(s.id, name);
    });
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'secondary logoff-cancel';
    cancel.textContent = 'Cancel';
    cancel.addEventListener('click', () => this.#askListLogoff(s, li, false));
    box.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      e.preventDefault();
      this.#askListLogoff(s, li, false);
    });
    box.append(question, yes, cancel);
    return box;
  }

  /** Shows (ask) or takes back the list's Log off question of session s, drawn in its row li. */
  #askListLogoff(s, li, ask) {
    this.#logoffAsked = ask ? s.id : null;
    const row = this.el.sessions.querySelector(`li[data-session-id="${CSS.escape(s.id)}"]`) ?? li;
    const again = this.#sessionItem(s);
    row.replaceWith(again);
    again.querySelector(ask ? 'button.logoff-cancel' : 'button.session-logoff')?.focus();
  }

  #setBusy(busy) {
    for (const b of this.el.portal.querySelectorAll('button')) b.disabled = busy;
  }

  // --- actions ------------------------------------------------------------------------------

  async login() {
    let loggedIn = false;
    const username = this.el.username.value.trim();
    const password = this.el.password.value;
    if (!username || !password) {
      this.showError('Enter your user name and password.');
      return;
    }
    this.clearMessages();
    this.#setBusy(true);
    try {
      const me = await api('POST', '/login', { username, password });
      this.el.password.value = '';
      await this.showResources(me?.user ?? username);
      // Somewhere useful for the keyboard, not <body>: the search box, first of the resources.
      this.el.search.focus();
      loggedIn = true;
    } catch (err) {
      this.showError(
        err.status === 401 ? 'Wrong user name or password.'
          : err.status === 429 ? 'Too many login attempts. Wait a minute, then try again.'
            : `Login failed: ${err.message}`);
      this.el.password.select();
    } finally {
      this.#setBusy(false);
    }
    // Logging in from a session's URL (a bookmark, a reload after the portal login expired) goes on to it.
    if (loggedIn) await this.#followRoute(this.#router.current());
  }

  async logout() {
    this.clearMessages();
    try {
      await api('POST', '/logout');
    } catch (err) {
      if (err.status !== 401) {
        this.showError(`Logout failed: ${err.message}`);
        return;
      }
    }
    this.el.resources.replaceChildren();
    this.el.sessions.replaceChildren();
    this.#sessionsDrawn = '';
    this.#thumbnails.retain([]);
    this.showLogin();
    this.showNotice('You are logged out.');
  }

  async endSession(id, name) {
    this.clearMessages();
    try {
      await api('DELETE', `/sessions/${encodeURIComponent(id)}`);
      forgetLastSeen(globalThis.sessionStorage, id);
      this.showNotice(`${name}: logging off.`);
    } catch (err) {
      if (err.status === 401) return this.#expired();
      if (err.status !== 404) {
        this.showError(`${name} could not be logged off: ${err.message}`);
        return undefined;
      }
      this.showNotice(`${name} had already ended.`);
    }
    // The host confirms asynchronously; the list follows once the broker has heard back.
    for (let i = 0; i < 20; i++) {
      await this.refreshSessions();
      if (!this.el.sessions.querySelector(`[data-session-id="${CSS.escape(id)}"]`)) break;
      await new Promise((r) => { setTimeout(r, 250); });
    }
    this.el.search.focus();
    return undefined;
  }

  #expired() {
    this.showLogin();
    this.showError('Your portal session has expired. Log in again.');
  }

  /** The user-facing message for a failed launch. */
  #launchError(resource, err) {
    if (err.code === 'no_host' || err.status === 503) {
      return `${resource.name} cannot start: no session host is available right now. Try again in a few minutes.`;
    }
    if (err.code === 'launch_failed' || err.status === 502) {
      return `${resource.name} could not be started: the session host failed to start it (${err.message}).`;
    }
    if (err.status === 404) return `${resource.name} is no longer available to you.`;
    if (err.status === 0) return err.message;
    return `${resource.name} could not be started: ${err.message}`;
  }

  async launch(resource) {
    if (this.#session) return; // a second click, or Forward while a launch was on its way
    this.showNotice(`Starting ${resource.name}…`);
    this.#setBusy(true);
    let session;
    try {
      session = await api('POST', '/launch', { resource: resource.id, scale: launchScale() });
    } catch (err) {
      if (err.status === 401) this.#expired();
      else this.showError(this.#launchError(resource, err));
      return;
    } finally {
      this.#setBusy(false);
    }
    this.#prefs.launched(resource.id);
    this.#startSession(resource, session);
    this.#router.showSession(session.session_id);
  }

  // --- the session view ---------------------------------------------------------------------

  #startSession(resource, launch) {
    this.clearMessages();
    this.el.sessionName.textContent = resource.name;
    this.el.status.textContent = '';
    this.el.reconnecting.hidden = true;
    this.#showView('session');
    document.title = `${resource.name} — Portico`;
    this.#session = { id: launch.session_id, resource, client: null, reconnect: null };
    this.#focusOnDraw = null; // in a session now: a list answer still on its way must not take the keyboard
    this.#disconnectedHere.delete(launch.session_id);
    this.#connect(launch);
    this.#layout();
    this.el.screen.focus();
    // E.g. a VM desktop under software emulation: say so before the user wonders why it is slow.
    this.el.sessionNotice.textContent = launch.notice ?? '';
    this.el.sessionNotice.hidden = !launch.notice;
  }

  #connect(launch) {
    const s = this.#session;
    const client = new DisplayClient(this.el.screen, {
      onStatus: (text) => { if (s.client === client && !s.reconnect) this.el.status.textContent = text; },
      onEnd: (end) => { if (s.client === client) this.#clientEnded(end); },
      onSize: () => this.#layout(),
      onShortcut: (e) => this.#sessionKey(e),
      onClipboard: (text) => { if (s.client === client) this.#remoteCopied(text); },
      onClipboardImage: (png) => { if (s.client === client) this.#remoteCopiedImage(png); },
      onShadow: (text) => { if (s.client === client) this.#showShadow(text); },
      onPointerMode: (state) => { if (s.client === client) this.el.pointerHint.hidden = state !== 'released'; },
    });
    s.client = client;
    this.#showShadow(null); // a new connection: the host says again if someone watches
    this.el.pointerHint.hidden = true; // ... and whether its pointer is relative
    this.#requestSessionSize();
    client.connect({ gatewayPath: launch.gateway_path, ticket: launch.ticket, width: launch.width, height: launch.height });
  }

  /**
   * Sees each key on the screen before the session: true keeps it from the session. The stats
   * shortcut is kept (the document-level listener toggles it); Ctrl+Alt+Shift alone opens the menu.
   */
  #sessionKey(e) {
    if (this.#isStatsShortcut(e)) {
      this.#menuChord.spoil();
      return true;
    }
    const { swallow, open } = this.#menuChord.key(e);
    if (open) this.#menu.toggle();
    return swallow;
  }

  #isStatsShortcut(e) {
    return e.code === 'KeyS' && e.ctrlKey && e.altKey && e.shiftKey && !e.metaKey;
  }

  #clientEnded(end) {
    const s = this.#session;
    const retryable = end.reason === 'connection_lost'
      || (end.reason === 'refused' && s.reconnect && end.code !== 'session_not_found');
    if (retryable && (end.wasConnected || s.reconnect)) {
      this.#scheduleReconnect(end);
      return;
    }
    this.#sessionEnded(end);
  }

  #scheduleReconnect(end) {
    const s = this.#session;
    if (!s.reconnect) {
      s.reconnect = { attempt: 0, started: Date.now(), timer: 0, lastError: end.message };
      console.info('display connection lost; reconnecting:', end.message);
    }
    const r = s.reconnect;
    r.lastError = end.message;
    const delay = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_FIRST_MS * 2 ** r.attempt);
    if (Date.now() - r.started + delay > RECONNECT_BUDGET_MS) {
      this.#sessionEnded({
        reason: 'connection_lost', error: true,
        message: `The connection to ${s.resource.name} was lost and could not be re-established (${r.lastError}). `
          + 'The session may still be running: reconnect from the list below.',
      });
      return;
    }
    r.attempt++;
    this.el.reconnecting.hidden = false;
    this.el.status.textContent = `Reconnecting… (attempt ${r.attempt})`;
    r.timer = setTimeout(() => this.#reconnect(), delay);
  }

  async #reconnect() {
    const s = this.#session;
    if (!s || !s.reconnect) return;
    let launch;
    try {
      // Only rejoin the same session: if it ended meanwhile, say so instead of starting a new one.
      const live = await api('GET', '/sessions');
      if (this.#session !== s) return;
      if (!live.some((x) => x.id === s.id)) {
        this.#sessionEnded({ reason: 'ended', error: true, message: `${s.resource.name} ended while the connection was lost.` });
        return;
      }
      launch = await api('POST', '/launch', { resource: s.resource.id, scale: launchScale() });
    } catch (err) {
      if (this.#session !== s) return;
      if (err.status === 401) {
        this.#leaveSession();
        this.#expired();
        return;
      }
      this.#scheduleReconnect({ message: this.#launchError(s.resource, err) });
      return;
    }
    if (this.#session !== s) return;
    if (launch.session_id !== s.id) {
      console.warn('reconnect landed in another session', launch.session_id, 'instead of', s.id);
      s.id = launch.session_id;
      this.#router.showSession(s.id);
    }
    this.#connect(launch);
    this.#watchReconnected(s);
  }

  #watchReconnected(s) {
    const client = s.client;
    const poll = () => {
      if (this.#session !== s || s.client !== client || !s.reconnect) return;
      if (client.connected && client.stats().frames > 0) {
        s.reconnect = null;
        this.el.reconnecting.hidden = true;
        this.el.status.textContent = `Reconnected (${this.el.screen.width}×${this.el.screen.height})`;
        return;
      }
      setTimeout(poll, 100);
    };
    poll();
  }

  // The user must know when someone (a helpdesk shadow) watches their screen: a banner over the
  // top of the screen that takes no input and no room (the session's size stays), until the last
  // watcher leaves.
  #showShadow(text) {
    this.el.shadowBanner.textContent = text ?? '';
    this.el.shadowBanner.hidden = !text;
  }

  #leaveSession() {
    const s = this.#session;
    if (!s) return;
    this.#showShadow(null);
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    this.#toggleClipboard(false);
    clearTimeout(s.reconnect?.timer);
    // The list shows the session as it was last seen here (the canvas keeps the last frame).
    if (s.client?.stats().frames > 0) saveLastSeen(globalThis.sessionStorage, s.id, this.el.screen);
    this.#session = null;
    this.#menu.close({ focusScreen: false });
    this.#menuChord.reset();
    this.#closeMenu();
    this.#askLogoff(false);
    clearInterval(this.#statsTimer);
    this.el.reconnecting.hidden = true;
  }

  #sessionEnded(end) {
    const s = this.#session;
    if (!s) return;
    const { id } = s;
    this.#leaveSession();
    // SessionEnded reasons (an Error message carries a code and leaves the session running).
    const gone = ['logged_off', 'app_exited', 'host_shutdown'].includes(end.reason) || (end.reason === 'error' && !end.code);
    if (gone) {
      this.#endedSessions.add(id);
      forgetLastSeen(globalThis.sessionStorage, id);
    }
    if (end.reason === 'disconnected_by_admin') this.#disconnectedHere.set(id, Date.now() / 1000);
    if (end.reason === 'logged_off' && !end.confirmed) {
      // The host never confirmed the Logoff message: end the session through the broker too.
      api('DELETE', `/sessions/${encodeURIComponent(id)}`).catch((err) => {
        console.warn('could not end session', id, err.message);
      });
    }
    this.#backToPortal(id);
    if (end.error) this.showError(end.message);
    else this.showNotice(end.message);
  }

  /** The portal again, with the keyboard on the session just left (or the list's first, or search). */
  #backToPortal(leftId, { urlChanged = false } = {}) {
    if (!urlChanged) this.#router.showPortal();
    // Until the fresh list arrives, the one from before must not offer a session that has ended.
    for (const li of [...this.el.sessions.children]) if (this.#endedSessions.has(li.dataset.sessionId)) li.remove();
    this.el.noSessions.hidden = this.el.sessions.children.length > 0;
    this.#showView('resources');
    document.title = 'Portico';
    // A poll may be in flight: whichever answer is drawn last moves the keyboard.
    this.#focusOnDraw = leftId;
    this.refreshSessions();
  }

  #askLogoff(open) {
    this.el.logoffBox.hidden = !open;
    this.el.logoff.setAttribute('aria-expanded', String(open));
    if (open) this.el.logoffCancel.focus();
    else if (document.activeElement?.closest?.('#logoff-confirm-box')) this.el.logoff.focus();
  }

  #logoffCurrent() {
    const s = this.#session;
    if (!s) return;
    if (s.reconnect) {
      // No display connection to send Logoff on: end the session through the broker.
      this.#sessionEnded({ reason: 'logged_off', error: false, confirmed: false, message: 'You logged off.' });
      return;
    }
    s.client.logoff();
  }

  /** Leaves the session running; urlChanged: Back already took the URL away from it. */
  #disconnectCurrent({ urlChanged = false } = {}) {
    const s = this.#session;
    if (!s) return;
    s.client.close();
    this.#disconnectedHere.set(s.id, Date.now() / 1000);
    this.#leaveSession();
    this.#backToPortal(s.id, { urlChanged });
    this.showNotice(`${s.resource.name} keeps running. Reconnect from the list below.`);
  }

  #sendCombo(codes) {
    const sent = this.#session?.client.sendKeyCombo(codes);
    if (!sent) this.el.status.textContent = 'Not connected: the keys were not sent.';
    this.el.screen.focus();
  }

  #toggleMenu() {
    if (this.el.sendKeysMenu.hidden) {
      this.el.sendKeysMenu.hidden = false;
      this.el.sendKeys.setAttribute('aria-expanded', 'true');
      this.el.sendKeysMenu.querySelector('button').focus();
    } else {
      this.#closeMenu();
    }
  }

  #closeMenu() {
    this.el.sendKeysMenu.hidden = true;
    this.el.sendKeys.setAttribute('aria-expanded', 'false');
  }

  #menuKey(e) {
    const items = [...this.el.sendKeysMenu.querySelectorAll('button')];
    const i = items.indexOf(document.activeElement);
    if (e.key === 'Escape') {
      this.#closeMenu();
      this.el.sendKeys.focus();
    } else if (e.key === 'ArrowDown') {
      items[(i + 1) % items.length].focus();
    } else if (e.key === 'ArrowUp') {
      items[(i - 1 + items.length) % items.length].focus();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  // --- scaling and stats --------------------------------------------------------------------

  /**
   * The menu's Zoom buttons: the next step of the view's zoom (zoom.js, the one pinching sets),
   * around the middle of the view; the way to zoom without a two-finger gesture.
   */
  #zoomBy(direction) {
    const zoom = ViewZoom.of(this.el.screen);
    const b = zoom.box();
    zoom.set(zoomAround(zoom.view, zoomStep(zoom.view.scale, direction), b.width / 2, b.height / 2, b.width, b.height));
    this.#showZoom();
  }

  #showZoom() {
    const { scale } = ViewZoom.of(this.el.screen).view;
    this.el.zoomLevel.textContent = `${Math.round(scale * 100)}%`; // at the ends a step changes nothing (not disabled: the focus stays)
  }

  #setFit(fit) {
    this.#fit = fit;
    this.el.scaleMode.setAttribute('aria-pressed', String(!fit));
    this.#layout();
  }

  /**
   * The canvas backing store is the session's pixel size (set by the display client). Fit mode
   * scales it in CSS to the largest size that fits the window; 1:1 makes one session pixel one
   * device pixel (CSS size = pixels / devicePixelRatio), so HiDPI screens are not scaled twice.
   */
  #layout() {
    const c = this.el.screen;
    const area = this.el.screenArea;
    if (!c.width || !c.height) return;
    const oneToOne = !this.#fit;
    c.classList.toggle('one-to-one', oneToOne);
    area.classList.toggle('one-to-one', oneToOne);
    let w;
    let h;
    if (oneToOne) {
      const dpr = sessionPixelRatio(); // device pixels; CSS pixels on a phone (resize.js)
      w = c.width / dpr;
      h = c.height / dpr;
    } else {
      const scale = Math.min(area.clientWidth / c.width, area.clientHeight / c.height);
      if (!(scale > 0)) return;
      w = Math.floor(c.width * scale);
      h = Math.floor(c.height * scale);
    }
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
  }

  /**
   * Asks the session for the display area's size in device pixels, or CSS pixels on a phone or
   * tablet (resize.js, readability rule), capped to 3840×2160.
   */
  #requestSessionSize() {
    const client = this.#session?.client;
    const area = this.el.screenArea;
    if (!client || !area.clientWidth || !area.clientHeight) return;
    const dpr = sessionPixelRatio();
    client.requestSize(Math.min(MAX_SESSION_WIDTH, area.clientWidth * dpr), Math.min(MAX_SESSION_HEIGHT, area.clientHeight * dpr));
  }

  // --- clipboard and fullscreen -------------------------------------------------------------

  /**
   * Text was copied in the session: onto this computer's clipboard where the browser allows it
   * (async clipboard API, needs focus and permission), and always into the toolbar's clipboard
   * panel, which is the fallback when the browser refuses.
   */
  async #remoteCopied(text) {
    this.el.clipboardText.value = text;
    try {
      if (!navigator.clipboard?.writeText) throw new Error('no async clipboard API');
      await navigator.clipboard.writeText(text);
      this.el.status.textContent = 'Copied from the session to this computer\'s clipboard.';
    } catch {
      this.el.status.textContent = 'Copied in the session: the text is in the Clipboard panel (the browser did not allow direct access).';
    }
  }

  /**
   * An image was copied in the session: onto this computer's clipboard where the browser allows
   * writing images (ClipboardItem, focus, permission); the panel holds text only, so otherwise
   * the status line says the image stayed in the session.
   */
  async #remoteCopiedImage(png) {
    try {
      if (!navigator.clipboard?.write || typeof ClipboardItem === 'undefined') throw new Error('no async clipboard API');
      await navigator.clipboard.write([new ClipboardItem({ 'image/png': new Blob([png], { type: 'image/png' }) })]);
      this.el.status.textContent = 'Copied an image from the session to this computer\'s clipboard.';
    } catch {
      this.el.status.textContent = 'An image was copied in the session; this browser did not allow putting it on this computer\'s clipboard.';
    }
  }

  #toggleClipboard(show = this.el.clipboardPanel.hidden) {
    this.el.clipboardPanel.hidden = !show;
    this.el.clipboardToggle.setAttribute('aria-expanded', String(show));
    if (show) this.el.clipboardText.focus();
  }

  #sendClipboardText() {
    const sent = this.#session?.client.sendClipboard(this.el.clipboardText.value);
    this.el.status.textContent = sent ? 'Sent to the session\'s clipboard: paste it there.'
      : 'Not connected (or the text is over 1 MiB): the clipboard was not sent.';
    if (sent) this.#menu.close(); // folds the clipboard panel; the keyboard goes back to the session
  }

  async #copyClipboardText() {
    const ta = this.el.clipboardText;
    try {
      await navigator.clipboard.writeText(ta.value);
    } catch {
      ta.select();
      document.execCommand?.('copy'); // older browsers, or permission refused
    }
  }

  async #toggleFullscreen() {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await this.el.sessionSection.requestFullscreen({ navigationUI: 'hide' });
    } catch (err) {
      this.el.status.textContent = `Full screen is not available here: ${err.message}`;
    }
    this.el.screen.focus();
  }

  #fullscreenChanged() {
    const on = Boolean(document.fullscreenElement);
    this.el.fullscreen.setAttribute('aria-pressed', String(on));
    this.el.fullscreen.textContent = on ? 'Exit full screen' : 'Full screen';
    // In full screen the browser can pass Escape, Ctrl+W and friends to the page (hold Escape to leave).
    if (on) navigator.keyboard?.lock?.().catch(() => {});
    else navigator.keyboard?.unlock?.();
  }

  #toggleStats() {
    const show = this.el.stats.hidden;
    this.el.stats.hidden = !show;
    this.el.statsToggle.setAttribute('aria-pressed', String(show));
    clearInterval(this.#statsTimer);
    if (show) {
      this.#renderStats();
      this.#statsTimer = setInterval(() => this.#renderStats(), STATS_INTERVAL_MS);
    }
  }

  #renderStats() {
    const st = this.#session?.client.stats();
    if (!st) return;
    const rows = [
      ['fps', fmt(st.fps, 0)],
      ['bitrate', `${fmt(st.kbps, 0)} kbit/s`],
      ['frames', String(st.frames)],
      ['screen', `${st.width}×${st.height}`],
      ['decode (H.264)', `${fmt(st.decodeMs.median)} ms`],
      ['video size', st.lastVideoReduced ? 'half (motion)' : 'full'],
      ['tile decode', `${fmt(st.tileDecodeMs.median)} ms`],
      ['tile paint', `${fmt(st.tilePaintMs.median, 2)} ms`],
      ['arrival→painted', `${fmt(st.arrivalToPaintMs.median)} / p95 ${fmt(st.arrivalToPaintMs.p95)} ms`],
      ['RTT', `${fmt(st.rttMs)} ms`],
      ['input→photon', `${fmt(st.inputToPhotonMs.median)} / p95 ${fmt(st.inputToPhotonMs.p95)} ms`],
    ];
    this.el.stats.replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dd.dataset.stat = k;
      return [dt, dd];
    }));
  }
}

new Portal().start();
