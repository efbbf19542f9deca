// The admin console: log in (cookie), then tabs for hosts, sessions (with live stream figures and
// view-only shadowing through the web client's DisplayClient), users and groups, apps and desktop
// pools, and the audit log. The visible tab is polled every 2 s and its tables are updated in
// place. Helpdesk users get no edit controls (the broker refuses them anyway with 403).

import { DisplayClient } from '/display.js';
import { api, ApiError } from '/rest.js';
import { parseEntitlements, formatEntitlements } from './entitlements.js';
import { renderRows, button } from './table.js';

const POLL_MS = 2000;
const $ = (selector) => document.querySelector(selector);

const state = {
  me: null, // {user, role}
  tab: 'hosts',
  timer: 0,
  polling: false,
  shadow: null, // {sessionId, client, timer}
  users: [],
  groups: [],
  editingApp: null, // the app / pool the form edits, as last loaded
  editingPool: null,
};

const isAdmin = () => state.me?.role === 'admin';

// ---- messages ---------------------------------------------------------------------------------

function showError(err) {
  const text = err instanceof ApiError
    ? `${err.message}${err.code && err.status ? ` (${err.code}, HTTP ${err.status})` : ''}`
    : String(err?.message ?? err);
  $('#error-text').textContent = text;
  $('#error').hidden = false;
}

function clearError() {
  $('#error').hidden = true;
  $('#error-text').textContent = '';
}

function notice(text) {
  const n = $('#notice');
  n.textContent = text;
  n.hidden = !text;
}

/** Runs an action; shows the API's error; refreshes the visible tab afterwards. */
async function act(fn, done) {
  clearError();
  try {
    const result = await fn();
    if (done) notice(typeof done === 'function' ? done(result) : done);
    return result;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showLogin('Your login expired. Log in again.');
    showError(err);
    return undefined;
  } finally {
    refresh();
  }
}

// ---- formatting -------------------------------------------------------------------------------

const num = (v, digits = 1) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
const pct = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100)} %`);
const when = (unix) => (unix ? new Date(unix * 1000).toLocaleString() : '–');

function duration(seconds) {
  if (!(seconds >= 0)) return '–';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return h ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s).padStart(2, '0')}s`;
}

function ago(unix) {
  if (!unix) return '–';
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  return s < 120 ? `${s} s ago` : when(unix);
}

// ---- views ------------------------------------------------------------------------------------

function showView(name) {
  for (const v of ['login', 'denied', 'console']) $(`#${v}-view`).hidden = v !== name;
}

function showLogin(message) {
  stopPolling();
  stopShadow();
  state.me = null;
  $('#account').hidden = true;
  showView('login');
  if (message) showError(message);
  $('#username').focus();
}

async function start() {
  try {
    state.me = await api('GET', '/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showLogin();
    showView('login');
    return showError(err);
  }
  $('#whoami').textContent = `${state.me.user} (${state.me.role})`;
  $('#account').hidden = false;
  if (state.me.role !== 'admin' && state.me.role !== 'helpdesk') {
    showView('denied');
    $('#denied-text').textContent = `You are logged in as ${state.me.user}, whose role is "${state.me.role}". `
      + 'The admin console is for the admin and helpdesk roles; ask an administrator if you need access.';
    return;
  }
  document.body.classList.toggle('readonly', !isAdmin());
  $('#readonly-note').hidden = isAdmin();
  for (const f of document.querySelectorAll('.admin-only')) f.hidden = !isAdmin();
  showView('console');
  const wanted = location.hash.slice(1);
  selectTab(document.querySelector(`[data-tab="${wanted}"]`) ? wanted : 'hosts', false);
  startPolling();
}

function selectTab(name, focus = true) {
  if (state.tab !== name) {
    // Messages and the one-time token belong to the tab they came from.
    notice('');
    $('#token-result').hidden = true;
    $('#token-value').value = '';
  }
  state.tab = name;
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t.dataset.tab === name;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    if (on && focus) t.focus();
  }
  for (const p of document.querySelectorAll('[role="tabpanel"]')) p.hidden = p.id !== `panel-${name}`;
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  refresh();
}

// ---- polling ----------------------------------------------------------------------------------

function startPolling() {
  stopPolling();
  state.timer = setInterval(refresh, POLL_MS);
}

function stopPolling() {
  clearInterval(state.timer);
  state.timer = 0;
}

const loaders = {
  hosts: loadHosts,
  sessions: loadSessions,
  users: loadUsers,
  apps: loadApps,
  audit: loadAudit,
};

async function refresh() {
  if (!state.me || state.polling || $('#console-view').hidden) return;
  state.polling = true;
  try {
    await loaders[state.tab]();
    $('#last-update').textContent = new Date().toLocaleTimeString();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showLogin('Your login expired. Log in again.');
    else showError(err);
  } finally {
    state.polling = false;
  }
}

// ---- hosts ------------------------------------------------------------------------------------

async function loadHosts() {
  const hosts = await api('GET', '/hosts');
  $('#hosts-empty').hidden = hosts.length > 0;
  renderRows($('#hosts-table tbody'), hosts, (h) => h.id, [
    { text: (h) => (h.name && h.name !== h.id ? `${h.id} (${h.name})` : h.id) },
    { text: (h) => h.state, className: (h) => `state state-${h.state}`, data: 'state' },
    { text: (h) => `${h.sessions} / ${h.max_sessions}`, data: 'sessions' },
    { text: (h) => (h.connected ? pct(h.cpu) : '–'), data: 'cpu' },
    { text: (h) => (h.connected ? pct(h.mem) : '–'), data: 'mem' },
    { text: (h) => ago(h.last_heartbeat) },
    { text: (h) => h.auth },
    // Single-user mode or no helper: an admin must see at once that this host does not isolate users.
    { text: (h) => (!h.connected ? '–' : { 'per-user': 'per user', none: 'NONE (single-user mode)', refused: 'no apps (no helper)' }[h.isolation] || h.isolation),
      className: (h) => (h.connected && h.isolation !== 'per-user' ? 'state state-down' : ''), data: 'isolation' },
  ], {
    signature: (h) => `${isAdmin()}|${h.drain}|${h.connected}`,
    build: (h, td) => {
      if (!isAdmin()) return;
      if (h.drain) td.append(button('Undrain', `Undrain ${h.id}`, () => act(() => api('POST', `/hosts/${enc(h.id)}/undrain`), `${h.id} takes new sessions again.`)));
      else td.append(button('Drain', `Drain ${h.id}`, () => act(() => api('POST', `/hosts/${enc(h.id)}/drain`), `${h.id} is draining: no new sessions are placed on it.`)));
      td.append(button('Remove', `Remove ${h.id}`, () => {
        if (!confirm(`Remove host ${h.id}? Its sessions are lost and it must enroll again.`)) return;
        act(() => api('DELETE', `/hosts/${enc(h.id)}`), `${h.id} removed.`);
      }, 'small danger'));
    },
  });
}

const enc = encodeURIComponent;

async function createToken(e) {
  e.preventDefault();
  const hostId = $('#token-host').value.trim();
  const hours = Number($('#token-ttl').value || 24);
  const body = { ttl_seconds: Math.round(hours * 3600) };
  if (hostId) body.host_id = hostId;
  const t = await act(() => api('POST', '/enrollment-tokens', body));
  if (!t) return;
  $('#token-value').value = t.token;
  $('#token-result').hidden = false;
  notice(`Enrollment token created${t.host_id ? ` for ${t.host_id}` : ''}; it expires ${when(t.expires_at)}.`);
  $('#token-value').focus();
  $('#token-value').select();
}

// ---- sessions ---------------------------------------------------------------------------------

async function loadSessions() {
  const live = $('#sessions-filter').value === 'live';
  const all = await api('GET', '/sessions?scope=all&limit=500');
  const rows = live ? all.filter((s) => s.state !== 'ended' && s.state !== 'lost') : all;
  const now = Date.now() / 1000;
  $('#sessions-empty').hidden = rows.length > 0;
  renderRows($('#sessions-table tbody'), rows, (s) => s.id, [
    { text: (s) => s.user },
    { text: (s) => s.host },
    { text: (s) => s.resource_name ?? s.resource, data: 'resource' },
    { text: (s) => s.state, className: (s) => `state state-${s.state}`, data: 'state' },
    { text: (s) => duration((s.ended_at || now) - s.created_at) },
    { text: (s) => num(s.stats?.fps), data: 'fps' },
    { text: (s) => num(s.stats?.kbps, 0), data: 'kbps' },
    { text: (s) => num(s.stats?.rtt_ms), data: 'rtt' },
    { text: (s) => num(s.stats?.input_to_photon_ms), data: 'input-to-photon' },
    { text: (s) => num(s.stats?.encode_ms), data: 'encode' },
    { text: (s) => (s.stats?.viewers ?? '–').toString(), data: 'viewers' },
  ], {
    signature: (s) => s.state,
    build: (s, td) => {
      if (s.state === 'ended' || s.state === 'lost' || s.state === 'ending') return;
      const label = `${s.resource_name ?? s.resource} of ${s.user}`;
      if (s.state !== 'starting') {
        td.append(button('Shadow', `Shadow ${label}`, () => startShadow(s)));
        td.append(button('Disconnect', `Disconnect ${label}`, () => act(() => api('POST', `/sessions/${enc(s.id)}/disconnect`), `Disconnected ${label}; the session keeps running.`)));
      }
      td.append(button('Log off', `Log off ${label}`, () => {
        if (!confirm(`Log off ${label}? Unsaved work in the session is lost.`)) return;
        act(() => api('POST', `/sessions/${enc(s.id)}/logoff`), `Logging off ${label}.`);
      }, 'small danger'));
    },
  });
  // The shadowed session ended: say so.
  if (state.shadow && !all.some((s) => s.id === state.shadow.sessionId && s.state !== 'ended' && s.state !== 'lost')) {
    $('#shadow-status').textContent = 'The session ended.';
  }
}

async function startShadow(s) {
  stopShadow();
  const launch = await act(() => api('POST', `/sessions/${enc(s.id)}/shadow`));
  if (!launch) return;
  const view = $('#shadow-view');
  // A fresh canvas per shadow: DisplayClient owns its canvas's listeners and context.
  const old = $('#shadow-screen');
  const canvas = old.cloneNode(false);
  old.replaceWith(canvas);
  $('#shadow-title').textContent = `Shadowing ${s.resource_name ?? s.resource} of ${s.user} on ${s.host}`;
  $('#shadow-frames').value = '0';
  view.hidden = false;
  const client = new DisplayClient(canvas, {
    onStatus: (text) => { $('#shadow-status').textContent = text; },
    onEnd: (end) => {
      if (state.shadow?.client !== client) return;
      $('#shadow-status').textContent = end.message || 'The view ended.';
    },
  });
  const timer = setInterval(() => {
    $('#shadow-frames').value = String(client.stats().frames);
  }, 500);
  state.shadow = { sessionId: s.id, client, timer };
  client.connect({ gatewayPath: launch.gateway_path, ticket: launch.ticket, width: launch.width, height: launch.height });
  $('#shadow-stop').focus();
}

function stopShadow() {
  const sh = state.shadow;
  if (!sh) return;
  state.shadow = null;
  clearInterval(sh.timer);
  sh.client.close();
  $('#shadow-view').hidden = true;
  $('#shadow-status').textContent = '';
}

// ---- users and groups -------------------------------------------------------------------------

function randomPassword() {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

async function loadUsers() {
  const [users, groups] = await Promise.all([api('GET', '/users'), api('GET', '/groups')]);
  state.users = users;
  state.groups = groups;
  renderRows($('#users-table tbody'), users, (u) => u.name, [
    { text: (u) => u.name },
    { text: (u) => u.role, data: 'role', owned: () => isAdmin() },
    { text: (u) => u.groups.join(', ') },
    { text: (u) => when(u.created_at) },
  ], {
    signature: (u) => `${isAdmin()}|${u.role}`,
    build: (u, td) => {
      if (!isAdmin()) return;
      const roleCell = td.parentElement.cells[1];
      roleCell.textContent = '';
      const sel = document.createElement('select');
      sel.setAttribute('aria-label', `Role of ${u.name}`);
      for (const r of ['user', 'helpdesk', 'admin']) sel.add(new Option(r, r, false, r === u.role));
      sel.addEventListener('change', () => act(() => api('PATCH', `/users/${enc(u.name)}`, { role: sel.value }), `${u.name} is now ${sel.value}.`));
      roleCell.append(sel);
      td.append(button('Reset password', `Reset the password of ${u.name}`, async () => {
        const pw = randomPassword();
        const ok = await act(() => api('PATCH', `/users/${enc(u.name)}`, { password: pw }));
        if (ok) notice(`New password of ${u.name}: ${pw} (shown once; give it to the user).`);
      }));
      td.append(button('Delete', `Delete user ${u.name}`, () => {
        if (!confirm(`Delete user ${u.name}? Their sessions are logged off.`)) return;
        act(() => api('DELETE', `/users/${enc(u.name)}`), `${u.name} deleted.`);
      }, 'small danger'));
    },
  });
  renderRows($('#groups-table tbody'), groups, (g) => g.name, [
    { text: (g) => g.name },
    { text: (g) => g.members.join(', ') || '(none)', owned: () => isAdmin() },
  ], {
    signature: (g) => `${isAdmin()}|${g.members.join(',')}|${users.map((u) => u.name).join(',')}`,
    build: (g, td) => {
      if (!isAdmin()) return;
      const membersCell = td.parentElement.cells[1];
      membersCell.textContent = '';
      const list = document.createElement('ul');
      list.className = 'members';
      for (const m of g.members) {
        const li = list.appendChild(document.createElement('li'));
        li.append(`${m} `, button('Remove', `Remove ${m} from ${g.name}`, () => act(() => api('DELETE', `/groups/${enc(g.name)}/members/${enc(m)}`), `${m} removed from ${g.name}.`)));
      }
      membersCell.append(list);
      const candidates = users.map((u) => u.name).filter((n) => !g.members.includes(n));
      if (candidates.length) {
        const sel = document.createElement('select');
        sel.setAttribute('aria-label', `User to add to ${g.name}`);
        for (const n of candidates) sel.add(new Option(n, n));
        td.append(sel, button('Add member', `Add the selected user to ${g.name}`, () => act(() => api('PUT', `/groups/${enc(g.name)}/members/${enc(sel.value)}`), `${sel.value} added to ${g.name}.`)));
      }
      td.append(button('Delete', `Delete group ${g.name}`, () => {
        if (!confirm(`Delete group ${g.name}?`)) return;
        act(() => api('DELETE', `/groups/${enc(g.name)}`), `Group ${g.name} deleted.`);
      }, 'small danger'));
    },
  });
}

async function createUser(e) {
  e.preventDefault();
  const body = { name: $('#user-name').value.trim(), role: $('#user-role').value };
  if ($('#user-password').value) body.password = $('#user-password').value;
  const u = await act(() => api('POST', '/users', body));
  if (!u) return;
  notice(u.password ? `User ${u.name} created with password ${u.password} (shown once).` : `User ${u.name} created.`);
  e.target.reset();
}

async function createGroup(e) {
  e.preventDefault();
  const members = $('#group-members').value.split(',').map((s) => s.trim()).filter(Boolean);
  const g = await act(() => api('POST', '/groups', { name: $('#group-name').value.trim(), members }), (x) => `Group ${x.name} created.`);
  if (g) e.target.reset();
}

// ---- apps and pools ---------------------------------------------------------------------------

async function loadApps() {
  const apps = await api('GET', '/apps');
  renderRows($('#apps-table tbody'), apps, (a) => a.id, [
    { text: (a) => a.id },
    { text: (a) => a.name },
    { text: (a) => a.command.join(' ') },
    { text: (a) => a.host_group || '–' },
    { text: (a) => formatEntitlements(a.entitlements) || '(nobody)' },
  ], editActions('app', (a) => `${a.name} (${a.id})`, fillAppForm, (a) => `/apps/${enc(a.id)}`));

  const poolsError = $('#pools-error');
  let pools = [];
  try {
    pools = await api('GET', '/pools');
    poolsError.hidden = true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    // E.g. a broker without desktop pools answers 404: say so in place of the table.
    poolsError.textContent = `Desktop pools are not available: ${err.message} (${err.code}, HTTP ${err.status}).`;
    poolsError.hidden = false;
  }
  renderRows($('#pools-table tbody'), pools, (p) => p.id, [
    { text: (p) => p.id },
    { text: (p) => p.name },
    { text: (p) => p.image },
    { text: (p) => p.mode },
    { text: (p) => String(p.size ?? '–') },
    { text: (p) => String(p.spares ?? '–') },
    { text: (p) => String(p.memory_mib ?? '–') },
    { text: (p) => String(p.cpus ?? '–') },
    { text: (p) => String(p.sessions ?? '–') },
    { text: (p) => formatEntitlements(p.entitlements) || '(nobody)' },
  ], editActions('pool', (p) => `${p.name} (${p.id})`, fillPoolForm, (p) => `/pools/${enc(p.id)}`));
}

function editActions(kind, label, fill, path) {
  return {
    signature: (x) => `${isAdmin()}|${JSON.stringify(x)}`,
    build: (x, td) => {
      if (!isAdmin()) return;
      td.append(button('Edit', `Edit ${kind} ${label(x)}`, () => fill(x)));
      td.append(button('Delete', `Delete ${kind} ${label(x)}`, () => {
        if (!confirm(`Delete ${kind} ${label(x)}?`)) return;
        act(() => api('DELETE', path(x)), `Deleted ${kind} ${label(x)}.`);
      }, 'small danger'));
    },
  };
}

function fillAppForm(a) {
  state.editingApp = a ?? null;
  $('#app-editing').value = a ? a.id : '';
  $('#app-id').value = a?.id ?? '';
  $('#app-id').readOnly = !!a;
  $('#app-name').value = a?.name ?? '';
  $('#app-command').value = a ? a.command.join(' ') : '';
  $('#app-icon').value = a?.icon ?? '';
  $('#app-host-group').value = a?.host_group ?? '';
  $('#app-entitlements').value = a ? formatEntitlements(a.entitlements) : '';
  $('#app-form-title').textContent = a ? `Edit app ${a.id}` : 'Publish an app';
  $('#app-submit').textContent = a ? 'Save app' : 'Publish app';
  $('#app-cancel').hidden = !a;
  if (a) $('#app-name').focus();
}

async function submitApp(e) {
  e.preventDefault();
  const editing = $('#app-editing').value;
  const fields = {
    name: $('#app-name').value.trim(),
    command: $('#app-command').value.trim().split(/\s+/).filter(Boolean),
    icon: $('#app-icon').value,
    host_group: $('#app-host-group').value.trim(),
  };
  const ok = await act(async () => {
    const entitlements = parseEntitlements($('#app-entitlements').value);
    if (!editing) return api('POST', '/apps', { id: $('#app-id').value.trim(), ...fields, entitlements });
    const was = state.editingApp ?? {};
    const changed = Object.fromEntries(Object.entries(fields)
      .filter(([k, v]) => (Array.isArray(v) ? v.join('\u0000') !== (was[k] ?? []).join('\u0000') : v !== (was[k] ?? ''))));
    let app = was;
    if (Object.keys(changed).length) app = await api('PATCH', `/apps/${enc(editing)}`, changed);
    if (formatEntitlements(entitlements) !== formatEntitlements(was.entitlements)) {
      app = await api('PUT', `/apps/${enc(editing)}/entitlements`, { entitlements });
    }
    return app;
  }, (a) => (editing ? `App ${a.id} saved.` : `App ${a.id} published.`));
  if (ok) fillAppForm(null);
}

function fillPoolForm(p) {
  state.editingPool = p ?? null;
  $('#pool-editing').value = p ? p.id : '';
  $('#pool-id').value = p?.id ?? '';
  $('#pool-id').readOnly = !!p;
  for (const [id, k] of [['name', 'name'], ['image', 'image'], ['mode', 'mode'], ['size', 'size'], ['spares', 'spares'],
    ['memory', 'memory_mib'], ['cpus', 'cpus'], ['icon', 'icon']]) {
    $(`#pool-${id}`).value = p?.[k] ?? (k === 'mode' ? 'pooled' : '');
  }
  $('#pool-entitlements').value = p ? formatEntitlements(p.entitlements) : '';
  $('#pool-form-title').textContent = p ? `Edit desktop pool ${p.id}` : 'Create a desktop pool';
  $('#pool-submit').textContent = p ? 'Save pool' : 'Create pool';
  $('#pool-cancel').hidden = !p;
  if (p) $('#pool-name').focus();
}

async function submitPool(e) {
  e.preventDefault();
  const editing = $('#pool-editing').value;
  const fields = { name: $('#pool-name').value.trim(), image: $('#pool-image').value.trim(), mode: $('#pool-mode').value };
  for (const [id, k] of [['size', 'size'], ['spares', 'spares'], ['memory', 'memory_mib'], ['cpus', 'cpus']]) {
    const v = $(`#pool-${id}`).value;
    if (v !== '') fields[k] = Number(v);
  }
  if ($('#pool-icon').value || state.editingPool?.icon) fields.icon = $('#pool-icon').value;
  const ok = await act(async () => {
    const entitlements = parseEntitlements($('#pool-entitlements').value);
    if (!editing) return api('POST', '/pools', { id: $('#pool-id').value.trim(), ...fields, entitlements });
    // Only what changed, so a field the server treats as fixed is not sent back unchanged.
    const was = state.editingPool ?? {};
    const changed = Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== was[k]));
    let pool = was;
    if (Object.keys(changed).length) pool = await api('PATCH', `/pools/${enc(editing)}`, changed);
    if (formatEntitlements(entitlements) !== formatEntitlements(was.entitlements)) {
      pool = await api('PUT', `/pools/${enc(editing)}/entitlements`, { entitlements });
    }
    return pool;
  }, (p) => (editing ? `Pool ${p.id} saved.` : `Pool ${p.id} created.`));
  if (ok) fillPoolForm(null);
}

// ---- audit ------------------------------------------------------------------------------------

async function loadAudit() {
  const q = new URLSearchParams({ limit: '200' });
  const actor = $('#audit-actor').value.trim();
  const action = $('#audit-action').value.trim();
  if (actor) q.set('actor', actor);
  if (action) q.set('action', action);
  const text = $('#audit-text').value.trim().toLowerCase();
  let rows = await api('GET', `/audit?${q}`);
  if (text) rows = rows.filter((e) => [e.actor, e.action, e.target, e.from, e.detail].some((v) => String(v).toLowerCase().includes(text)));
  $('#audit-empty').hidden = rows.length > 0;
  renderRows($('#audit-table tbody'), rows, (e) => e.id, [
    { text: (e) => when(e.at) },
    { text: (e) => e.actor, data: 'actor' },
    { text: (e) => e.action, data: 'action' },
    { text: (e) => e.target, data: 'target' },
    { text: (e) => e.from || '–' },
    { text: (e) => e.detail },
  ]);
}

// ---- wiring -----------------------------------------------------------------------------------

function wire() {
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError();
    try {
      await api('POST', '/login', { username: $('#username').value, password: $('#password').value });
      $('#password').value = '';
      notice('');
      await start();
    } catch (err) {
      showError(err.status === 401 ? new Error('Wrong user name or password.') : err);
    }
  });
  $('#logout').addEventListener('click', async () => {
    try { await api('POST', '/logout'); } catch { /* logged out locally anyway */ }
    notice('');
    showLogin();
  });
  $('#error-close').addEventListener('click', clearError);
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const t of tabs) {
    t.addEventListener('click', () => selectTab(t.dataset.tab));
    // Arrow keys move between tabs (WAI-ARIA tabs pattern).
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length].dataset.tab);
    });
  }
  $('#token-form').addEventListener('submit', createToken);
  $('#sessions-filter').addEventListener('change', refresh);
  $('#shadow-stop').addEventListener('click', stopShadow);
  $('#user-form').addEventListener('submit', createUser);
  $('#group-form').addEventListener('submit', createGroup);
  $('#app-form').addEventListener('submit', submitApp);
  $('#app-cancel').addEventListener('click', () => fillAppForm(null));
  $('#pool-form').addEventListener('submit', submitPool);
  $('#pool-cancel').addEventListener('click', () => fillPoolForm(null));
  $('#audit-form').addEventListener('submit', (e) => { e.preventDefault(); refresh(); });
  // Tests and diagnostics.
  window.__porticoConsole = {
    shadowFrames: () => state.shadow?.client.stats().frames ?? -1,
    shadowConnected: () => !!state.shadow?.client.connected,
  };
}

wire();
start();
