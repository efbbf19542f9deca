// The audit log in sentences for people: "admin added alice to group helpdesk" rather than an
// action code and a detail string. Resource ids become their names, session ids are shortened,
// the system actor "-" is "Portico". Pure: the console passes the names it loaded.

import { endReasonText } from './history.js';

/** The first 8 characters of a session id and an ellipsis: enough to tell sessions apart. */
export const shortId = (id) => (id && id.length > 10 ? `${id.slice(0, 8)}…` : id ?? '');

/** "user demo, resource terminal, host h1" -> {user: 'demo', resource: 'terminal', host: 'h1'} */
export function detailFields(detail) {
  const out = {};
  for (const part of String(detail ?? '').split(', ')) {
    const m = /^(\w+) (.*)$/.exec(part);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function entitlementsText(detail) {
  try {
    const list = JSON.parse(detail);
    if (!Array.isArray(list)) return detail;
    if (!list.length) return 'nobody';
    return list.map((e) => (e.user ? `user ${e.user}` : `group ${e.group}`)).join(', ');
  } catch {
    return detail;
  }
}

function seconds(text) {
  const s = Number(String(text ?? '').replace(/ s$/, ''));
  if (!Number.isFinite(s)) return text ?? '';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

/**
 * The sentence for one audit event {actor, action, target, detail}. names: {resource(id) -> name}
 * for apps and pools (ids not in it are shown as they are).
 */
export function describeAudit(e, names = {}) {
  const who = e.actor === '-' ? 'Portico' : e.actor;
  const d = detailFields(e.detail);
  const resource = (id) => names.resource?.(id) ?? id;
  const session = `session ${shortId(e.target)}`;
  switch (e.action) {
    case 'login': return `${who} logged in`;
    case 'login_failed': return `A login as ${e.target} failed`;
    case 'logout': return `${who} logged out`;
    case 'user.create': return `${who} created user ${e.target}${d.role ? ` with role ${d.role}` : ''}`;
    case 'user.update': {
      const parts = [];
      if (d.role) parts.push(`gave ${e.target} the role ${d.role}`);
      if (/password changed/.test(e.detail)) parts.push(`set a new password for ${e.target}`);
      return `${who} ${parts.join(' and ') || `changed user ${e.target}`}`;
    }
    case 'user.delete': return `${who} deleted user ${e.target}`;
    case 'group.create': {
      const members = /^members (.*)$/.exec(e.detail ?? '')?.[1];
      return `${who} created group ${e.target}${members ? ` with ${members}` : ' with no members'}`;
    }
    case 'group.delete': return `${who} deleted group ${e.target}`;
    case 'group.add_member': return `${who} added ${d.user ?? 'a user'} to group ${e.target}`;
    case 'group.remove_member': return `${who} removed ${d.user ?? 'a user'} from group ${e.target}`;
    case 'app.create': return `${who} published app ${e.detail || e.target} (${e.target})`;
    case 'app.update': return `${who} changed ${(e.detail || 'the settings').replaceAll(',', ', ')} of app ${resource(e.target)}`;
    case 'app.delete': return `${who} unpublished app ${e.detail || e.target} (${e.target})`;
    case 'app.entitlements': return `${who} let ${entitlementsText(e.detail)} use app ${resource(e.target)}`;
    case 'pool.create': return `${who} created desktop pool ${e.detail || e.target}`;
    case 'pool.update': return `${who} changed ${(e.detail || 'the settings').replaceAll(',', ', ')} of desktop pool ${resource(e.target)}`;
    case 'pool.delete': return `${who} deleted desktop pool ${e.detail || e.target} (${e.target})`;
    case 'pool.entitlements': return `${who} let ${entitlementsText(e.detail)} use desktop pool ${resource(e.target)}`;
    case 'host.drain': return `${who} drained host ${e.target} (no new sessions)`;
    case 'host.undrain': return `${who} let host ${e.target} take new sessions again`;
    case 'host.remove': return `${who} removed host ${e.target}`;
    case 'host.enroll': return `Host ${e.target} enrolled (${e.detail})`;
    case 'host.enroll_refused': return `Host ${e.target} was refused enrollment: ${e.detail}`;
    case 'host.takeover_refused': return `A host claiming to be ${e.target} was refused: ${e.detail}`;
    case 'host.down': return `Host ${e.target} went down: ${e.detail}`;
    case 'enrollment_token.create': return `${who} created an enrollment token for ${e.detail || 'any host'}`;
    case 'launch_file.issue': return `${who} downloaded a launch file for ${resource(e.target)} (${e.detail})`;
    case 'launch_file.redeem': return `${who} opened ${resource(e.target)} in the Portico app (${e.detail})`;
    case 'launch_file.refused': return `A launch file was refused: ${e.detail}`;
    case 'session.launch':
      return `${d.user ?? who} started ${resource(d.resource)} on ${d.host} (${session})`;
    case 'session.end': {
      const reason = endReasonText(d.reason, e.actor === '-' ? '' : e.actor); // "logged off by alice"
      return `${resource(d.resource)} of ${d.user} on ${d.host} ended after ${seconds(d.duration)}: ${reason} (${session})`;
    }
    case 'session.logoff': return `${who} logged off ${d.user ?? 'a user'}'s ${session}`;
    case 'session.disconnect': return `${who} disconnected ${d.user ?? 'a user'} from ${session}`;
    case 'session.shadow': return `${who} watched ${d.user ?? 'a user'}'s ${session} (view only)`;
    case 'session.timeout': return `Portico ended ${d.user ?? 'a user'}'s ${session} after a timeout`;
    default: return `${who}: ${e.action} ${e.target}${e.detail ? ` (${e.detail})` : ''}`;
  }
}
