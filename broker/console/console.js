// The admin console: log in (cookie), then tabs for hosts, sessions (live ones with their stream
// figures and view-only shadowing through the web client's DisplayClient; the history of ended
// ones), users and groups, apps and desktop pools, and the audit log in sentences (CSV download
// from the broker). The visible tab is polled every 2 s and its tables are updated in place.
// Role and destructive changes are confirmed first, generated secrets shown once (dialogs.js).
// Helpdesk users get no edit controls (the broker refuses them anyway with 403).

import { DisplayClient } from '/display.js';
import { api, ApiError } from '/rest.js';
import { describeAudit, shortId } from './audit_text.js';
import { confirmAction, showSecret, wireDialogs } from './dialogs.js';
import { parseEntitlements, formatEntitlements } from './entitlements.js';
import { bytesText, endReasonText, qualityText } from './history.js';
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
  history: [], // ended sessions shown, most recently ended first
  historyComplete: false, // "Show older" reached the first one
  resourceNames: new Map(), // id -> name of apps and pools, for the audit's sentences
};

const HISTORY_PAGE = 100;

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
  if (state.tab !== name) notice(''); // messages belong to the tab they came from (a secret stays)
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
      else {
        td.append(button('Drain', `Drain ${h.id}`, () => confirmed({ title: `Drain host ${h.id}?`,
          message: 'No new sessions are placed on it; running sessions keep running and users can reconnect to them.',
          confirmLabel: 'Drain' }, () => act(() => api('POST', `/hosts/${enc(h.id)}/drain`), `${h.id} is draining: no new sessions are placed on it.`))));
      }
      td.append(button('Remove', `Remove ${h.id}`, () => confirmed({ title: `Remove host ${h.id}?`,
        message: 'Its sessions are lost and it must enroll again to come back.', confirmLabel: 'Remove host', danger: true },
      () => act(() => api('DELETE', `/hosts/${enc(h.id)}`), `${h.id} removed.`)), 'small danger'));
    },
  });
}

const enc = encodeURIComponent;

/** Runs `then` once the admin confirmed (dialogs.js); nothing on Cancel. */
async function confirmed(question, then) {
  if (await confirmAction(question)) await then();
}

async function createToken(e) {
  e.preventDefault();
  const hostId = $('#token-host').value.trim();
  const hours = Number($('#token-ttl').value || 24);
  const body = { ttl_seconds: Math.round(hours * 3600) };
  if (hostId) body.host_id = hostId;
  const t = await act(() => api('POST', '/enrollment-tokens', body));
  if (!t) return;
  showSecret(`Enrollment token${t.host_id ? ` for ${t.host_id}` : ''}`, t.token,
    `Run portico-host --enroll TOKEN on the host before ${when(t.expires_at)}. Copy it now: it will not be shown again.`);
}

// ---- sessions ---------------------------------------------------------------------------------

async function loadSessions() {
  const history = $('#sessions-filter').value === 'history';
  $('#live-view').hidden = history;
  $('#history-view').hidden = !history;
  if (history) {
    $('#sessions-empty').hidden = true;
    return loadHistory();
  }
  const rows = await api('GET', '/sessions?scope=all&limit=500'); // live ones
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
      td.append(button('Log off', `Log off ${label}`, () => confirmed({ title: `Log off ${label}?`,
        message: 'The session ends; unsaved work in it is lost.', confirmLabel: 'Log off', danger: true },
      () => act(() => api('POST', `/sessions/${enc(s.id)}/logoff`), `Logging off ${label}.`)), 'small danger'));
    },
  });
  // The shadowed session ended: say so.
  if (state.shadow && !rows.some((s) => s.id === state.shadow.sessionId)) {
    $('#shadow-status').textContent = 'The session ended.';
  }
}

// The newest page of the history, merged with the older pages "Show older" loaded.
async function loadHistory() {
  const newest = await api('GET', `/sessions/history?scope=all&limit=${HISTORY_PAGE}`);
  const ids = new Set(newest.map((s) => s.id));
  const older = state.history.filter((s) => !ids.has(s.id) && s.ended_at <= (newest.at(-1)?.ended_at ?? Infinity));
  if (!state.history.length) state.historyComplete = newest.length < HISTORY_PAGE;
  state.history = [...newest, ...older];
  renderHistory();
}

async function loadOlderHistory() {
  const last = state.history.at(-1);
  if (!last) return;
  const page = await act(() => api('GET', `/sessions/history?scope=all&limit=${HISTORY_PAGE}&before=${last.ended_at}&before_id=${enc(last.id)}`));
  if (!page) return;
  state.history.push(...page);
  state.historyComplete = page.length < HISTORY_PAGE;
  renderHistory();
}

function renderHistory() {
  const rows = state.history;
  $('#history-empty').hidden = rows.length > 0;
  $('#history-more').hidden = state.historyComplete || rows.length === 0;
  renderRows($('#history-table tbody'), rows, (s) => s.id, [
    { text: (s) => s.user, data: 'user' },
    { text: (s) => s.resource_name ?? s.resource, data: 'resource' },
    { text: (s) => s.host, data: 'host' },
    { text: (s) => when(s.created_at), data: 'started' },
    { text: (s) => when(s.ended_at), data: 'ended' },
    { text: (s) => duration(s.ended_at - s.created_at), data: 'duration' },
    { text: (s) => endReasonText(s.end_reason, s.ended_by), data: 'end-reason' },
    { text: (s) => bytesText(s.bytes_sent), data: 'bytes' },
    { text: (s) => qualityText(s), data: 'quality' },
    { text: (s) => shortId(s.id), data: 'session' },
  ]);
  // The full id where the short one is shown (and for the audit's links to this row).
  for (const tr of $('#history-table tbody').rows) tr.querySelector('[data-col="session"]').title = tr.dataset.key;
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

const ROLE_MEANS = {
  admin: 'An admin can change everything: users, groups, apps, pools and hosts.',
  helpdesk: 'Helpdesk sees everything and acts on sessions, but changes nothing else.',
  user: 'A user can only use the portal.',
};

/** [label, select]: a <select> with its own <label> (visually hidden: the column says what it is). */
function labelledSelect(id, labelText) {
  const sel = document.createElement('select');
  sel.id = id;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.className = 'sr-only';
  label.textContent = labelText;
  return [label, sel];
}

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
      const [label, sel] = labelledSelect(`role-of-${u.name}`, `Role of ${u.name}`);
      for (const r of ['user', 'helpdesk', 'admin']) sel.add(new Option(r, r, false, r === u.role));
      sel.addEventListener('change', async () => {
        const role = sel.value;
        const ok = await confirmAction({ title: `Make ${u.name} ${role === 'admin' ? 'an' : 'a'} ${role}?`,
          message: `${u.name} is ${u.role} now. ${ROLE_MEANS[role]}`, confirmLabel: `Change role to ${role}` });
        if (!ok) { sel.value = u.role; return; }
        act(() => api('PATCH', `/users/${enc(u.name)}`, { role }), `${u.name} is now ${role}.`);
      });
      roleCell.append(label, sel);
      td.append(button('Reset password', `Reset password of ${u.name}`, () => confirmed({ title: `Reset the password of ${u.name}?`,
        message: `${u.name} is logged out everywhere and needs the new password to log in.`, confirmLabel: 'Reset password', danger: true },
      async () => {
        const pw = randomPassword();
        const ok = await act(() => api('PATCH', `/users/${enc(u.name)}`, { password: pw }));
        if (ok) showSecret(`New password of ${u.name}`, pw, `Give it to ${u.name}. Copy it now: it will not be shown again.`);
      })));
      td.append(button('Delete', `Delete user ${u.name}`, () => confirmed({ title: `Delete user ${u.name}?`,
        message: 'Their sessions are logged off and their session history goes with them.', confirmLabel: 'Delete user', danger: true },
      () => act(() => api('DELETE', `/users/${enc(u.name)}`), `${u.name} deleted.`)), 'small danger'));
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
        li.append(`${m} `, button('Remove', `Remove ${m} from ${g.name}`, () => confirmed({ title: `Remove ${m} from ${g.name}?`,
          message: `${m} loses what ${g.name} is entitled to.`, confirmLabel: 'Remove member', danger: true },
        () => act(() => api('DELETE', `/groups/${enc(g.name)}/members/${enc(m)}`), `${m} removed from ${g.name}.`))));
      }
      membersCell.append(list);
      const candidates = users.map((u) => u.name).filter((n) => !g.members.includes(n));
      if (candidates.length) {
        const [label, sel] = labelledSelect(`add-to-${g.name}`, `User to add to ${g.name}`);
        // A placeholder, not the first user: nobody is added by an unchanged default.
        sel.add(new Option('Choose a user…', '', true, true));
        sel.options[0].disabled = true;
        for (const n of candidates) sel.add(new Option(n, n));
        const add = button('Add member', `Add member to ${g.name}`, () => {
          if (!sel.value) return showError(new Error(`Choose a user to add to ${g.name} first.`));
          return act(() => api('PUT', `/groups/${enc(g.name)}/members/${enc(sel.value)}`), `${sel.value} added to ${g.name}.`);
        });
        const field = document.createElement('span');
        field.className = 'add-member';
        field.append(label, sel, add);
        td.append(field);
      }
      td.append(button('Delete', `Delete group ${g.name}`, () => confirmed({ title: `Delete group ${g.name}?`,
        message: 'Its members lose what the group is entitled to.', confirmLabel: 'Delete group', danger: true },
      () => act(() => api('DELETE', `/groups/${enc(g.name)}`), `Group ${g.name} deleted.`)), 'small danger'));
    },
  });
}

async function createUser(e) {
  e.preventDefault();
  const body = { name: $('#user-name').value.trim(), role: $('#user-role').value };
  if ($('#user-password').value) body.password = $('#user-password').value;
  const u = await act(() => api('POST', '/users', body));
  if (!u) return;
  notice(`User ${u.name} created.`);
  if (u.password) showSecret(`Password of ${u.name}`, u.password, `Give it to ${u.name}. Copy it now: it will not be shown again.`);
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
    { text: (a) => a.command_line, data: 'command' },
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
      td.append(button('Delete', `Delete ${kind} ${label(x)}`, () => confirmed({ title: `Delete ${kind} ${label(x)}?`,
        message: kind === 'app' ? 'It can no longer be launched; running sessions keep running.'
          : 'Its desktops can no longer be launched; running sessions keep running.',
        confirmLabel: `Delete ${kind}`, danger: true },
      () => act(() => api('DELETE', path(x)), `Deleted ${kind} ${label(x)}.`)), 'small danger'));
    },
  };
}

function fillAppForm(a) {
  state.editingApp = a ?? null;
  $('#app-editing').value = a ? a.id : '';
  $('#app-id').value = a?.id ?? '';
  $('#app-id').readOnly = !!a;
  $('#app-name').value = a?.name ?? '';
  $('#app-command').value = a ? a.command_line : '';
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
    command_line: $('#app-command').value.trim(), // split by the broker (shell-like quoting)
    icon: $('#app-icon').value,
    host_group: $('#app-host-group').value.trim(),
  };
  const ok = await act(async () => {
    const entitlements = parseEntitlements($('#app-entitlements').value);
    if (!editing) return api('POST', '/apps', { id: $('#app-id').value.trim(), ...fields, entitlements });
    const was = state.editingApp ?? {};
    const changed = Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== (was[k] ?? '')));
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
  const q = new URLSearchParams();
  const actor = $('#audit-actor').value.trim();
  const action = $('#audit-action').value.trim();
  if (actor) q.set('actor', actor);
  if (action) q.set('action', action);
  // The download has the same filters (the broker writes the CSV: the whole log, not this page).
  $('#audit-csv').href = `/api/v1/audit?${new URLSearchParams([['format', 'csv'], ...q])}`;
  q.set('limit', '200');
  const text = $('#audit-text').value.trim().toLowerCase();
  const [events] = await Promise.all([api('GET', `/audit?${q}`), loadResourceNames()]);
  const names = { resource: (id) => state.resourceNames.get(id) };
  let rows = events.map((e) => ({ ...e, sentence: describeAudit(e, names) }));
  if (text) rows = rows.filter((e) => [e.actor, e.action, e.target, e.from, e.detail, e.sentence].some((v) => String(v).toLowerCase().includes(text)));
  $('#audit-empty').hidden = rows.length > 0;
  renderRows($('#audit-table tbody'), rows, (e) => e.id, [
    { text: (e) => when(e.at) },
    { text: (e) => (e.actor === '-' ? 'Portico' : e.actor), data: 'actor' },
    { text: (e) => e.sentence, data: 'what' },
    { text: (e) => e.action, data: 'action', className: () => 'code' },
    { text: (e) => e.from || '–' },
  ]);
  // The raw target on the row, for tests and for the curious (the sentence shortens session ids).
  for (const tr of $('#audit-table tbody').rows) {
    const e = rows.find((r) => String(r.id) === tr.dataset.key);
    if (e) tr.dataset.target = e.target;
  }
}

// Names of apps and pools for the audit's sentences; the lists change rarely (every 30 s is enough).
async function loadResourceNames() {
  if (state.resourceNamesAt && Date.now() - state.resourceNamesAt < 30_000) return;
  const [apps, pools] = await Promise.all([api('GET', '/apps'), api('GET', '/pools').catch(() => [])]);
  state.resourceNames = new Map([...apps, ...pools].map((r) => [r.id, r.name]));
  state.resourceNamesAt = Date.now();
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
  $('#history-more').addEventListener('click', loadOlderHistory);
  $('#shadow-stop').addEventListener('click', stopShadow);
  $('#user-form').addEventListener('submit', createUser);
  $('#group-form').addEventListener('submit', createGroup);
  $('#app-form').addEventListener('submit', submitApp);
  $('#app-cancel').addEventListener('click', () => fillAppForm(null));
  $('#pool-form').addEventListener('submit', submitPool);
  $('#pool-cancel').addEventListener('click', () => fillPoolForm(null));
  $('#audit-form').addEventListener('submit', (e) => { e.preventDefault(); refresh(); });
  wireDialogs();
  // Tests and diagnostics.
  window.__porticoConsole = {
    shadowFrames: () => state.shadow?.client.stats().frames ?? -1,
    shadowConnected: () => !!state.shadow?.client.connected,
  };
}

wire();
start();
