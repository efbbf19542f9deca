// Entitlement lists as the console's forms show them ("user:alice, group:staff") and as the REST
// API takes them ([{user:"alice"},{group:"staff"}]). The broker calls themselves go through the
// web client's rest.js, the one REST wrapper of portal and console.

import { ApiError } from '/rest.js';

/** "user:alice, group:staff" -> [{user:"alice"},{group:"staff"}]; throws on a malformed item. */
export function parseEntitlements(text) {
  const out = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(user|group):(.+)$/.exec(part);
    if (!m) throw new ApiError(0, 'bad_input', `Entitlement "${part}" must be user:NAME or group:NAME.`);
    out.push({ [m[1]]: m[2].trim() });
  }
  return out;
}

export function formatEntitlements(list) {
  return (list ?? []).map((e) => (e.user ? `user:${e.user}` : `group:${e.group}`)).join(', ');
}
