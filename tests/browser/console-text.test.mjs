// The admin console's words for people (broker/console/audit_text.js, history.js), no browser:
// audit events as sentences with names instead of ids, end reasons, bytes and quality.
// Run: node --test tests/browser/console-text.test.mjs

import test from 'node:test';
import assert from 'node:assert/strict';

import { describeAudit, detailFields, shortId } from '../../broker/console/audit_text.js';
import { bytesText, endReasonText, qualityText } from '../../broker/console/history.js';

const names = { resource: (id) => ({ terminal: 'Terminal', desk: 'Desktops' })[id] };
const event = (action, target, detail = '', actor = 'admin') => ({ id: 1, at: 0, actor, action, target, from: '', detail });
const SID = 'N9muU9WUxlMysMKrmNt0UjVZ';

test('group changes name the member and the group, not a count', () => {
  assert.equal(describeAudit(event('group.add_member', 'Helpdesk', 'user alice')), 'admin added alice to group Helpdesk');
  assert.equal(describeAudit(event('group.remove_member', 'Helpdesk', 'user alice')), 'admin removed alice from group Helpdesk');
  assert.equal(describeAudit(event('group.create', 'Helpdesk', 'members bob, carol')), 'admin created group Helpdesk with bob, carol');
  assert.equal(describeAudit(event('group.create', 'Helpdesk', 'no members')), 'admin created group Helpdesk with no members');
});

test('launches and ends: resource names, short session ids, the end reason in words', () => {
  assert.equal(describeAudit(event('session.launch', SID, 'user demo, resource terminal, host h1', 'demo'), names),
    'demo started Terminal on h1 (session N9muU9WU…)');
  assert.equal(describeAudit(event('session.end', SID, 'user demo, resource terminal, host h1, reason app_exited, duration 3725 s', '-'), names),
    'Terminal of demo on h1 ended after 1 h 2 min: the application exited (session N9muU9WU…)');
  assert.equal(describeAudit(event('session.end', SID, 'user demo, resource gone, host h1, reason admin_logoff, duration 42 s', 'alice'), names),
    'gone of demo on h1 ended after 42 s: logged off by alice (session N9muU9WU…)'); // a deleted resource: its id
  assert.equal(describeAudit(event('session.logoff', SID, 'user demo, host h1')), 'admin logged off demo\'s session N9muU9WU…');
});

test('entitlements and changes read as sentences, never raw JSON', () => {
  assert.equal(describeAudit(event('app.entitlements', 'terminal', '[{"user":"demo"},{"group":"staff"}]'), names),
    'admin let user demo, group staff use app Terminal');
  assert.equal(describeAudit(event('pool.entitlements', 'desk', '[]'), names), 'admin let nobody use desktop pool Desktops');
  assert.equal(describeAudit(event('user.update', 'bob', 'role admin, password changed')), 'admin gave bob the role admin and set a new password for bob');
  assert.equal(describeAudit(event('app.update', 'terminal', 'name,command_line'), names), 'admin changed name, command_line of app Terminal');
  assert.equal(describeAudit(event('host.down', 'h1', 'no heartbeat for 15 s; 2 sessions lost', '-')), 'Host h1 went down: no heartbeat for 15 s; 2 sessions lost');
  // An action this console does not know yet still reads, with its detail.
  assert.equal(describeAudit(event('future.thing', 'x', 'y')), 'admin: future.thing x (y)');
});

test('detail fields, short ids', () => {
  assert.deepEqual(detailFields('user demo, resource terminal, host h-1'), { user: 'demo', resource: 'terminal', host: 'h-1' });
  assert.deepEqual(detailFields(''), {});
  assert.equal(shortId(SID), 'N9muU9WU…');
  assert.equal(shortId('short'), 'short');
});

test('history figures: end reasons, bytes, average quality', () => {
  assert.equal(endReasonText('admin_logoff', 'alice'), 'logged off by alice');
  assert.equal(endReasonText('admin_logoff'), 'logged off by an administrator');
  assert.equal(endReasonText('user_logoff', 'demo'), 'logged off by the user');
  assert.equal(endReasonText('host_lost'), 'its host was lost');
  assert.equal(endReasonText(''), 'unknown');
  assert.equal(endReasonText('new_reason'), 'new_reason');
  assert.equal(bytesText(0), '0 B');
  assert.equal(bytesText(999), '999 B');
  assert.equal(bytesText(39000), '39.0 kB');
  assert.equal(bytesText(123456789), '123 MB');
  assert.equal(qualityText({ avg_fps: 23.6, avg_rtt_ms: 9.5 }), '24 fps, 10 ms RTT');
  assert.equal(qualityText({ avg_fps: null, avg_rtt_ms: null }), '–');
});
