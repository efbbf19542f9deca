// The user portal: log in, list the published resources, launch one into the session view and
// come back to the list when the session ends. All state lives in the Portal instance.

import { DisplayClient } from './display.js';

const API = '/api/v1';

/** A failed portal request: HTTP status (0 = no answer), broker error code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    init.headers['Content-Type'] = 'application/json'; // the broker's CSRF guard requires it
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch {
    throw new ApiError(0, 'network', 'The portal cannot be reached. Check your network connection and try again.');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data?.error ?? {};
    throw new ApiError(res.status, err.code ?? `http_${res.status}`,
      err.message ?? `The portal answered ${res.status} ${res.statusText}.`);
  }
  return data;
}

const $ = (selector) => document.querySelector(selector);

class Portal {
  #session = null; // { id, client } while a session runs

  constructor() {
    this.el = {
      portal: $('#portal'), loading: $('#loading'), error: $('#error'), notice: $('#notice'),
      account: $('#account'), userName: $('#user-name'), logout: $('#logout'),
      loginView: $('#login-view'), loginForm: $('#login-form'), username: $('#username'),
      password: $('#password'), login: $('#login'),
      resourcesView: $('#resources-view'), resources: $('#resources'), noResources: $('#no-resources'),
      sessionView: $('#session-view'), sessionName: $('#session-name'), status: $('#status'),
      logoff: $('#logoff'), screen: $('#screen'),
    };
    this.el.loginForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.login();
    });
    this.el.logout.addEventListener('click', () => this.logout());
    this.el.logoff.addEventListener('click', () => this.#session?.client.logoff());
    window.addEventListener('pagehide', () => this.#session?.client.close());
  }

  async start() {
    try {
      const me = await api('GET', '/me');
      await this.showResources(me.user);
    } catch (err) {
      this.showLogin();
      if (err.status !== 401) this.showError(err.message);
    }
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
    const { loading, loginView, resourcesView, portal, sessionView, account } = this.el;
    loading.hidden = true;
    loginView.hidden = view !== 'login';
    resourcesView.hidden = view !== 'resources';
    account.hidden = view !== 'resources';
    portal.hidden = view === 'session';
    sessionView.hidden = view !== 'session';
  }

  showLogin() {
    this.#showView('login');
    document.title = 'Portico — log in';
    this.el.username.focus();
  }

  async showResources(user) {
    const list = await api('GET', '/resources');
    this.el.userName.textContent = user ?? '';
    this.el.resources.replaceChildren(...list.map((r) => this.#resourceItem(r)));
    this.el.noResources.hidden = list.length > 0;
    this.#showView('resources');
    document.title = 'Portico';
  }

  #resourceItem(resource) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'resource';
    button.dataset.resourceId = resource.id;
    button.textContent = resource.name;
    button.title = resource.type === 'desktop' ? 'Desktop' : 'Application';
    button.addEventListener('click', () => this.launch(resource));
    const li = document.createElement('li');
    li.append(button);
    return li;
  }

  #setBusy(busy) {
    for (const b of this.el.portal.querySelectorAll('button')) b.disabled = busy;
  }

  // --- actions ------------------------------------------------------------------------------

  async login() {
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
    } catch (err) {
      this.showError(
        err.status === 401 ? 'Wrong user name or password.'
          : err.status === 429 ? 'Too many login attempts. Wait a minute, then try again.'
            : `Login failed: ${err.message}`);
      this.el.password.select();
    } finally {
      this.#setBusy(false);
    }
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
    this.showLogin();
    this.showNotice('You are logged out.');
  }

  async launch(resource) {
    this.showNotice(`Starting ${resource.name}…`);
    this.#setBusy(true);
    let session;
    try {
      session = await api('POST', '/launch', { resource: resource.id });
    } catch (err) {
      if (err.status === 401) {
        this.showLogin();
        this.showError('Your portal session has expired. Log in again.');
      } else if (err.code === 'no_host' || err.status === 503) {
        this.showError(`${resource.name} cannot start: no session host is available right now. Try again in a few minutes.`);
      } else if (err.status === 404) {
        this.showError(`${resource.name} is no longer available to you.`);
      } else {
        this.showError(`${resource.name} could not be started: ${err.message}`);
      }
      return;
    } finally {
      this.#setBusy(false);
    }
    this.#startSession(resource, session);
  }

  #startSession(resource, launch) {
    this.clearMessages();
    this.el.sessionName.textContent = resource.name;
    this.el.status.textContent = '';
    this.#showView('session');
    document.title = `${resource.name} — Portico`;
    const client = new DisplayClient(this.el.screen, {
      onStatus: (text) => { this.el.status.textContent = text; },
      onEnd: (end) => this.#sessionEnded(end),
    });
    this.#session = { id: launch.session_id, client };
    client.connect({
      gatewayPath: launch.gateway_path,
      ticket: launch.ticket,
      width: launch.width,
      height: launch.height,
    });
    this.el.screen.focus();
  }

  #sessionEnded(end) {
    const { id } = this.#session;
    this.#session = null;
    if (end.reason === 'logged_off' && !end.confirmed) {
      // The host never confirmed the Logoff message: end the session through the broker too.
      api('DELETE', `/sessions/${encodeURIComponent(id)}`).catch((err) => {
        console.warn('could not end session', id, err.message);
      });
    }
    this.#showView('resources');
    document.title = 'Portico';
    if (end.error) this.showError(end.message);
    else this.showNotice(end.message);
  }
}

new Portal().start();
