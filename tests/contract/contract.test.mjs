// The REST contract of the broker (issue 17): every operation in docs/openapi.yaml is called against
// a live broker (started with its session host by tests/integration/test_contract.py), with valid
// input and with malformed input, and every answer is validated against the spec with
// openapi-backend (Ajv underneath, OpenAPI 3.0.3): its status must be documented for the
// operation, its content type documented for that status, its body valid under the documented
// schema (an empty body where none is documented), its documented headers present and valid, and
// Strict-Transport-Security present. Each case also says which status (and error code) it expects.
//
// The malformed cases are derived from the spec itself, for every operation:
//   - a state-changing request not sent as application/json: 403 `csrf`;
//   - no login cookie where the operation needs one: 401 `unauthenticated`;
//   - each role missing from the operation's `x-roles`: 403 `forbidden`;
//   - each path parameter replaced by an unknown id: 404 `not_found`;
//   - a WebSocket route (one documenting 101): a plain request and an upgrade to version 8 (426
//     `upgrade_required`), an upgrade without Sec-WebSocket-Key (400 `bad_request`);
//   - for each request body: a body over 64 KiB (413 `too_large`), broken JSON, a JSON array, an
//     unknown field, each required field left out, and for every field (nested into arrays and
//     objects) a value of the wrong type and each constraint of its schema broken (minimum,
//     maximum, minLength, maxLength, pattern, enum, minItems, maxItems, min/maxProperties):
//     400 `bad_request` (the few documented exceptions are in OVERRIDES; a case whose body grows
//     over 64 KiB expects 413);
//   - the same for the constraints of each query parameter.
// The valid cases and the remaining documented answers (conflicts, not entitled, no host, rate
// limited, ...) are written out below, in an order that leaves every fixture alive until its own
// delete.
//
// The test fails on any answer that does not conform, on any operation in the spec it did not
// call with a success and with an error (unless the spec says with `x-error-only-when` that its
// only error is a server condition no request can cause), and on any operation without an
// operationId.
//
// Environment: PORTICO_URL (https://127.0.0.1:PORT), PORTICO_CA (the broker's certificate),
// PORTICO_PASSWORD (user "demo", role user, entitled to "terminal"), PORTICO_ADMIN_PASSWORD (user
// "admin"), PORTICO_HOST_ID (the enrolled session host), PORTICO_SPEC (docs/openapi.yaml).
// Exit status 0 and "contract test passed" when everything conforms, 1 otherwise.

import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import { OpenAPIBackend } from 'openapi-backend';

const env = Object.fromEntries(['PORTICO_URL', 'PORTICO_CA', 'PORTICO_PASSWORD', 'PORTICO_ADMIN_PASSWORD', 'PORTICO_HOST_ID',
  'PORTICO_SPEC'].map((n) => [n, process.env[n]]));
const unset = Object.keys(env).filter((n) => !env[n]);
if (unset.length) {
  console.error(`contract test FAILED: missing environment variable(s): ${unset.join(', ')}`);
  process.exit(1);
}
const broker = new URL(env.PORTICO_URL);
const ca = fs.readFileSync(env.PORTICO_CA);
const MAX_BODY = 64 * 1024; // docs/openapi.yaml: bodies are JSON objects of at most 64 KiB

// ---- the spec ------------------------------------------------------------------------------

const api = new OpenAPIBackend({ definition: env.PORTICO_SPEC, strict: true, validate: true });
try {
  await api.init(); // strict: a document that is not valid OpenAPI 3.0, or a schema Ajv cannot compile, throws here
} catch (e) {
  console.error(`contract test FAILED: ${env.PORTICO_SPEC} cannot be used by the validator: ${e.message}`);
  process.exit(1);
}
const operations = api.getOperations();
const ops = new Map(operations.map((o) => [o.operationId, o]));
const STATE_CHANGING = new Set(['post', 'put', 'patch', 'delete']);

function op(id) {
  const o = ops.get(id);
  if (!o) throw new Error(`the spec has no operation ${id}`);
  return o;
}

// Path-level `servers` (GET /metrics is served outside /api/v1) override the document's.
function urlOf(o, params = {}, query = {}) {
  const base = (api.definition.paths[o.path].servers ?? api.definition.servers)[0].url.replace(/\/$/, '');
  const path = o.path.replace(/\{(\w+)\}/g, (_, name) => {
    if (params[name] === undefined) throw new Error(`${o.operationId}: no value for path parameter ${name}`);
    return encodeURIComponent(params[name]);
  });
  const qs = new URLSearchParams(query).toString();
  return `${base}${path}${qs ? `?${qs}` : ''}`;
}

const requestSchema = (o) => o.requestBody?.content?.['application/json']?.schema;
const securityOf = (o) => o.security ?? api.definition.security ?? [];
// Operations callable without credentials list an empty requirement (`security: []` or `{}`).
const needsCredentials = (o) => securityOf(o).length > 0 && !securityOf(o).some((r) => Object.keys(r).length === 0);

// ---- HTTP ----------------------------------------------------------------------------------

/** One request on its own TLS connection; resolves with {status, headers, raw, json}. */
function send({ method, path, body, contentType, cookie, headers = {}, upgrade = false }) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let data;
    if (body !== undefined) data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    if (contentType) h['Content-Type'] = contentType;
    if (cookie) h.Cookie = cookie;
    if (data) h['Content-Length'] = data.length;
    if (upgrade) {
      Object.assign(h, { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64') }, headers);
    }
    for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k]; // a header a case leaves out
    const req = https.request({ host: broker.hostname, port: broker.port, method, path, headers: h, ca, agent: false,
      timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(answer(res, Buffer.concat(chunks))));
      res.on('error', reject);
    });
    // 101: the connection is now a WebSocket; the test only needed the handshake's answer.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(answer(res, Buffer.alloc(0)));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

function answer(res, raw) {
  let json;
  try {
    json = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, raw, json };
}

// ---- checking one exchange against the spec --------------------------------------------------

const formatErrors = (errors) => errors.map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);

function documentedResponse(o, status) {
  const r = o.responses ?? {};
  return r[String(status)] ?? r[`${Math.floor(status / 100)}XX`] ?? r.default;
}

/** What is wrong with this answer for this operation, according to the spec (empty: nothing). */
function nonConformance(o, res) {
  const doc = documentedResponse(o, res.status);
  if (!doc) return [`status ${res.status} is not documented (documented: ${Object.keys(o.responses ?? {}).join(', ')})`];
  const problems = [];
  if (!res.headers['strict-transport-security']) problems.push('no Strict-Transport-Security header');
  const media = (res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (doc.content) {
    if (!doc.content[media]) {
      problems.push(`content type "${media}" is not documented for ${res.status} (documented: ${Object.keys(doc.content).join(', ')})`);
    } else if (media === 'application/json') {
      if (res.json === undefined) problems.push('the body is not JSON');
      else {
        try {
          const v = api.validateResponse(res.json, o.operationId, res.status);
          if (!v.valid) problems.push(...formatErrors(v.errors));
        } catch (e) { // Ajv refuses to compile the documented schema
          problems.push(`the schema for ${res.status} cannot be used: ${e.message}`);
        }
      }
    } else if (doc.content[media].schema?.type !== 'string') {
      problems.push(`cannot check a ${media} body against a schema that is not a string`);
    }
  } else if (res.raw.length) {
    problems.push(`a ${res.raw.length}-byte body where the spec documents none`);
  }
  // Node gives repeated headers (Set-Cookie) as arrays; the spec describes each as one string.
  const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join('\n') : v]));
  const h = api.validateResponseHeaders(headers, o.operationId, { statusCode: res.status, setMatchType: 'superset' });
  if (!h.valid) problems.push(...formatErrors(h.errors).map((e) => `header ${e}`));
  return problems;
}

// ---- running cases -------------------------------------------------------------------------

const cookies = {}; // role -> login cookie (admin, helpdesk, user)
const results = new Map(operations.map((o) => [o.operationId, { statuses: new Set(), failures: [] }]));
let exchanges = 0;

/**
 * Calls operation `id` and checks the answer: conformance to the spec, and the expected status
 * (and error code, given as `403 csrf` style strings or numbers; an array: any of them). Returns
 * the answer.
 */
async function expect(id, expected, { as, params, query, body, contentType = 'application/json', raw, upgrade, headers } = {},
  what = '') {
  const o = op(id);
  const path = urlOf(o, params, query);
  const payload = raw ?? body;
  const res = await send({ method: o.method.toUpperCase(), path, body: payload, cookie: as ? cookies[as] : undefined,
    contentType: payload !== undefined || STATE_CHANGING.has(o.method) ? contentType : undefined, upgrade, headers });
  exchanges++;
  const r = results.get(id);
  r.statuses.add(res.status);
  const problems = nonConformance(o, res);
  const matches = (e) => {
    const [status, code] = String(e).split(' ');
    return res.status === Number(status) && (!code || res.json?.error?.code === code);
  };
  const alternatives = [expected].flat();
  if (!alternatives.some(matches)) {
    problems.push(`expected ${alternatives.join(' or ')}, got ${res.status} ${JSON.stringify(res.json?.error?.code ?? '')}`);
  }
  if (problems.length) {
    const shown = res.raw.toString('utf8').slice(0, 240);
    r.failures.push(`${o.method.toUpperCase()} ${path}${what ? ` (${what})` : ''}${as ? ` as ${as}` : ''}: ${problems.join('; ')}` +
      (shown ? `\n      answer: ${shown}` : ''));
  }
  return res;
}

// ---- malformed input derived from the schemas ------------------------------------------------

const WRONG_TYPE = { string: 12345, integer: 'twelve', number: 'one', boolean: 'yes', array: 'not-an-array', object: 'not-an-object' };

/** A value valid under `schema` (for fields a fixture leaves out). */
function sample(schema) {
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'string': return 'a'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer': case 'number': return schema.minimum ?? 1;
    case 'boolean': return true;
    case 'array': return Array.from({ length: schema.minItems ?? 0 }, () => sample(schema.items));
    case 'object': {
      const out = {};
      const keys = schema.required?.length ? schema.required : Object.keys(schema.properties ?? {}).slice(0, schema.minProperties ?? 0);
      for (const k of keys) out[k] = sample(schema.properties[k]);
      return out;
    }
    default: return null;
  }
}

/** [label, value] pairs that break `schema` in one way each, built around the valid `value`. */
function violations(schema, value) {
  const out = [];
  if (WRONG_TYPE[schema.type] !== undefined) out.push(['wrong type', WRONG_TYPE[schema.type]]);
  if (schema.type === 'integer') out.push(['not an integer', 1.5]);
  if (schema.type === 'integer' || schema.type === 'number') {
    if (schema.minimum !== undefined) out.push(['below minimum', schema.minimum - 1]);
    if (schema.maximum !== undefined) out.push(['above maximum', schema.maximum + 1]);
  }
  if (schema.type === 'string') {
    if (schema.minLength > 0) out.push(['shorter than minLength', 'a'.repeat(schema.minLength - 1)]);
    if (schema.maxLength !== undefined) out.push(['longer than maxLength', 'a'.repeat(schema.maxLength + 1)]);
    if (schema.pattern !== undefined) {
      for (const bad of ['bad name!', '..', '-dash-first']) {
        if (!new RegExp(schema.pattern, 'u').test(bad)) out.push([`not matching ${schema.pattern}: ${JSON.stringify(bad)}`, bad]);
      }
    }
    if (schema.enum) out.push(['not in enum', 'no-such-value']);
  }
  if (schema.type === 'array') {
    const item = Array.isArray(value) && value.length ? value[0] : sample(schema.items);
    if (schema.minItems > 0) out.push(['fewer than minItems', []]);
    // The smallest valid item, so the list stays within the body limit where it can.
    if (schema.maxItems !== undefined) out.push(['more than maxItems', Array(schema.maxItems + 1).fill(sample(schema.items))]);
    for (const [label, v] of violations(schema.items, item)) out.push([`item: ${label}`, [v]]);
  }
  if (schema.type === 'object') {
    const base = value && typeof value === 'object' && !Array.isArray(value) ? value : sample(schema);
    if (schema.additionalProperties === false) out.push(['unknown field', { ...base, no_such_field: 1 }]);
    for (const k of schema.required ?? []) {
      const { [k]: _, ...rest } = base;
      out.push([`missing required ${k}`, rest]);
    }
    if (schema.minProperties > 0) out.push(['fewer than minProperties', {}]);
    if (schema.maxProperties !== undefined) {
      const all = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, base[k] ?? sample(s)]));
      if (Object.keys(all).length > schema.maxProperties) out.push(['more than maxProperties', all]);
    }
    for (const [k, s] of Object.entries(schema.properties ?? {})) {
      for (const [label, v] of violations(s, base[k] ?? sample(s))) out.push([`${k}: ${label}`, { ...base, [k]: v }]);
    }
  }
  return out;
}

// Where the spec documents another answer than 400 for a broken constraint (operation id and the
// case label's start). /launch: a screen larger than the broker's --max-screen is a policy
// limit, 403 `limit_exceeded`, not a malformed request.
const OVERRIDES = [
  ['launch', 'width: above maximum', '403 limit_exceeded'],
  ['launch', 'height: above maximum', '403 limit_exceeded'],
  ['redeemLaunchFile', 'width: above maximum', '403 limit_exceeded'],
  ['redeemLaunchFile', 'height: above maximum', '403 limit_exceeded'],
];
const expectedFor = (id, label) => OVERRIDES.find(([o, l]) => o === id && label.startsWith(l))?.[2] ?? '400 bad_request';

/** Every malformed request the spec allows us to derive for operation `id`, sent with `fixture`. */
async function malformed(id, fixture) {
  const o = op(id);
  const f = { ...fixture };
  if (STATE_CHANGING.has(o.method)) await expect(id, '403 csrf', { ...f, contentType: 'text/plain' }, 'not sent as JSON');
  if (needsCredentials(o)) await expect(id, '401 unauthenticated', { ...f, as: undefined }, 'no login');
  for (const role of ['admin', 'helpdesk', 'user']) {
    if (o['x-roles'] && !o['x-roles'].includes(role)) await expect(id, '403 forbidden', { ...f, as: role }, `role ${role}`);
  }
  if (o.responses?.['101']) { // a WebSocket route: what is not a proper version-13 upgrade
    await expect(id, '426 upgrade_required', { ...f, upgrade: false }, 'not an upgrade');
    await expect(id, '426 upgrade_required', { ...f, headers: { 'Sec-WebSocket-Version': '8' } }, 'WebSocket version 8');
    await expect(id, '400 bad_request', { ...f, headers: { 'Sec-WebSocket-Key': undefined } }, 'no Sec-WebSocket-Key');
  }
  for (const p of (o.parameters ?? []).filter((x) => x.in === 'path')) {
    await expect(id, '404 not_found', { ...f, params: { ...f.params, [p.name]: `no-such-${p.name}` } }, `unknown ${p.name}`);
  }
  for (const p of (o.parameters ?? []).filter((x) => x.in === 'query' && x.schema)) {
    for (const [label, v] of violations(p.schema, undefined).filter(([l]) => l !== 'wrong type' || p.schema.type !== 'string')) {
      await expect(id, expectedFor(id, `${p.name}: ${label}`), { ...f, query: { ...f.query, [p.name]: v } }, `query ${p.name}: ${label}`);
    }
  }
  const schema = requestSchema(o);
  if (!schema) return;
  const big = JSON.stringify({ padding: 'x'.repeat(MAX_BODY) });
  await expect(id, '413 too_large', { ...f, raw: big }, `${big.length}-byte body`);
  await expect(id, '400 bad_request', { ...f, raw: '{"broken": ' }, 'broken JSON');
  await expect(id, '400 bad_request', { ...f, raw: '[]' }, 'a JSON array');
  for (const [label, v] of violations(schema, f.body ?? {})) {
    if (label === 'wrong type') continue; // the body itself: the JSON array above
    // A body over the limit is refused for its size before anything in it is looked at.
    const status = JSON.stringify(v).length > MAX_BODY ? '413 too_large' : expectedFor(id, label);
    await expect(id, status, { ...f, body: v }, label.length > 90 ? `${label.slice(0, 90)}…` : label);
  }
}

// ---- the scenario --------------------------------------------------------------------------

const DEMO = 'demo';
const HOST = env.PORTICO_HOST_ID;
const strongPassword = () => `pw-${crypto.randomBytes(9).toString('base64url')}`;

function csrPem(cn) {
  return execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', '/dev/null', '-subj', `/CN=${cn}`, '-batch'], { encoding: 'utf8' });
}

async function login(role, username, password) {
  const res = await expect('login', 200, { body: { username, password } }, `as ${username}`);
  const set = res.headers['set-cookie']?.[0] ?? '';
  if (!set.startsWith('portico_session=')) throw new Error(`login of ${username} set no cookie: ${set}`);
  cookies[role] = set.split(';')[0];
}

async function main() {
  // Phase 1: the fixtures, made through the API itself (each a success case of its operation).
  await login('admin', 'admin', env.PORTICO_ADMIN_PASSWORD);
  await login('user', DEMO, env.PORTICO_PASSWORD);
  const helpdeskPassword = strongPassword();
  await expect('createUser', 201, { as: 'admin', body: { name: 'contract-helpdesk', role: 'helpdesk', password: helpdeskPassword } });
  await login('helpdesk', 'contract-helpdesk', helpdeskPassword);
  const created = await expect('createUser', 201, { as: 'admin', body: { name: 'contract-user' } }, 'password generated');
  if (typeof created.json?.password !== 'string') results.get('createUser').failures.push('no generated password in the 201 answer');
  await expect('createGroup', 201, { as: 'admin', body: { name: 'contract-group', members: ['contract-user'] } });
  await expect('createApp', 201, { as: 'admin', body: { id: 'contract-app', name: 'Contract app', command: ['xterm'],
    entitlements: [{ group: 'contract-group' }] } });
  await expect('createPool', 201, { as: 'admin', body: { id: 'contract-pool', name: 'Contract pool', image: 'contract-image',
    mode: 'pooled', entitlements: [{ user: DEMO }] } });
  const tokens = [];
  for (const hostId of ['contract-enrolled', 'contract-enrolled-2']) {
    const t = await expect('createEnrollmentToken', 201, { as: 'admin', body: { host_id: hostId, ttl_seconds: 3600 } });
    tokens.push(t.json?.token);
  }
  await expect('enroll', 200, { body: { token: tokens[0], host_id: 'contract-enrolled', csr_pem: csrPem('contract-enrolled') } });
  const launched = await expect('launch', 200, { as: 'user', body: { resource: 'terminal', width: 800, height: 600, scale: 1 } });
  const sid = launched.json?.session_id;
  if (!sid) throw new Error(`the demo user could not launch Terminal: ${launched.raw}`);
  // A launch file whose token the malformed redeems leave unused (a refused body spends nothing).
  const launchFile = await expect('createLaunchFile', 200, { as: 'user', body: { resource: 'terminal' } });
  const launchToken = /\ntoken=([A-Za-z0-9_-]+)\n/.exec(launchFile.raw.toString())?.[1];
  if (!launchToken) throw new Error(`the launch file holds no token: ${launchFile.raw}`);

  // Phase 2: the malformed requests, each operation with a valid fixture around the one fault.
  const csr2 = csrPem('contract-enrolled-2');
  const fixtures = {
    login: { body: { username: 'admin', password: env.PORTICO_ADMIN_PASSWORD } },
    logout: {},
    getMe: { as: 'user' },
    listResources: { as: 'user' },
    launch: { as: 'user', body: { resource: 'terminal', width: 800, height: 600, scale: 1 } },
    createLaunchFile: { as: 'user', body: { resource: 'terminal' } },
    redeemLaunchFile: { body: { token: launchToken, width: 800, height: 600, scale: 1 } },
    listSessions: { as: 'user' },
    listSessionHistory: { as: 'user' },
    getSession: { as: 'user', params: { id: sid } },
    deleteSession: { as: 'user', params: { id: sid } },
    logoffSession: { as: 'user', params: { id: sid }, body: {} },
    disconnectSession: { as: 'user', params: { id: sid }, body: {} },
    shadowSession: { as: 'admin', params: { id: sid }, body: {} },
    getSessionThumbnail: { as: 'user', params: { id: sid } },
    listUsers: { as: 'admin' },
    createUser: { as: 'admin', body: { name: 'contract-user-2', role: 'user', password: strongPassword() } },
    getUser: { as: 'admin', params: { name: 'contract-user' } },
    updateUser: { as: 'admin', params: { name: 'contract-user' }, body: { role: 'user', password: strongPassword() } },
    deleteUser: { as: 'admin', params: { name: 'contract-user' } },
    listGroups: { as: 'admin' },
    createGroup: { as: 'admin', body: { name: 'contract-group-2', members: [DEMO] } },
    getGroup: { as: 'admin', params: { name: 'contract-group' } },
    deleteGroup: { as: 'admin', params: { name: 'contract-group' } },
    addGroupMember: { as: 'admin', params: { name: 'contract-group', user: 'contract-helpdesk' }, body: {} },
    removeGroupMember: { as: 'admin', params: { name: 'contract-group', user: 'contract-user' } },
    listApps: { as: 'admin' },
    createApp: { as: 'admin', body: { id: 'contract-app-2', name: 'Contract app 2', command: ['xterm', '-e', 'true'], icon: '',
      host_group: '', entitlements: [{ user: DEMO }, { group: 'users' }] } },
    getApp: { as: 'admin', params: { id: 'contract-app' } },
    updateApp: { as: 'admin', params: { id: 'contract-app' }, body: { name: 'Contract app', command: ['xterm'], icon: '', host_group: '' } },
    deleteApp: { as: 'admin', params: { id: 'contract-app' } },
    setAppEntitlements: { as: 'admin', params: { id: 'contract-app' }, body: { entitlements: [{ group: 'contract-group' }] } },
    listPools: { as: 'admin' },
    createPool: { as: 'admin', body: { id: 'contract-pool-2', name: 'Contract pool 2', image: 'contract-image', mode: 'pooled',
      size: 2, spares: 0, memory_mib: 256, cpus: 1, icon: '', entitlements: [{ user: DEMO }] } },
    getPool: { as: 'admin', params: { id: 'contract-pool' } },
    updatePool: { as: 'admin', params: { id: 'contract-pool' }, body: { name: 'Contract pool', image: 'contract-image', mode: 'pooled',
      size: 3, spares: 0, memory_mib: 256, cpus: 1, icon: '' } },
    deletePool: { as: 'admin', params: { id: 'contract-pool' } },
    setPoolEntitlements: { as: 'admin', params: { id: 'contract-pool' }, body: { entitlements: [{ user: DEMO }] } },
    listHosts: { as: 'admin' },
    getHost: { as: 'admin', params: { id: HOST } },
    removeHost: { as: 'admin', params: { id: 'contract-enrolled' } },
    drainHost: { as: 'admin', params: { id: HOST }, body: {} },
    undrainHost: { as: 'admin', params: { id: HOST }, body: {} },
    listEnrollmentTokens: { as: 'admin' },
    createEnrollmentToken: { as: 'admin', body: { host_id: 'contract-any', ttl_seconds: 3600 } },
    enroll: { body: { token: tokens[1], host_id: 'contract-enrolled-2', csr_pem: csr2 } },
    listAudit: { as: 'admin' },
    getMetrics: { as: 'admin' },
    getHealth: {},
    openGateway: { params: { session_id: sid }, upgrade: true },
    openControlChannel: { upgrade: true },
  };
  for (const o of operations) {
    if (fixtures[o.operationId]) await malformed(o.operationId, fixtures[o.operationId]);
    else results.get(o.operationId).failures.push('the contract test has no fixture for this operation: add one, and its valid cases');
  }

  // Phase 3: the valid requests and the remaining documented answers.
  for (const role of ['admin', 'helpdesk', 'user']) await expect('getMe', 200, { as: role });
  await expect('listResources', 200, { as: 'user' });
  await expect('listSessions', 200, { as: 'user' }, 'own');
  await expect('listSessions', 200, { as: 'helpdesk', query: { scope: 'all', state: 'active', limit: 10 } }, 'everyone\'s');
  await expect('listSessions', '403 forbidden', { as: 'user', query: { scope: 'all' } }, 'a user asks for everyone\'s');
  await expect('getSession', 200, { as: 'user', params: { id: sid } }, 'owner');
  await expect('getSession', 200, { as: 'helpdesk', params: { id: sid } }, 'helpdesk');
  // The live picture from the real host: a JPEG, for the owner and for staff.
  for (const role of ['user', 'helpdesk']) {
    const thumb = await expect('getSessionThumbnail', 200, { as: role, params: { id: sid } }, role);
    if (thumb.headers['content-type'] !== 'image/jpeg' || thumb.raw[0] !== 0xff || thumb.raw[1] !== 0xd8) {
      results.get('getSessionThumbnail').failures.push(`not a JPEG (${thumb.headers['content-type']}, ${thumb.raw.length} bytes)`);
    }
  }

  // The two WebSocket routes (the refusals were derived above).
  await expect('openGateway', 101, { params: { session_id: sid }, upgrade: true });
  await expect('openControlChannel', 101, { upgrade: true });

  await expect('shadowSession', 200, { as: 'helpdesk', params: { id: sid }, body: {} });
  await expect('disconnectSession', 204, { as: 'user', params: { id: sid }, body: {} });
  const again = await expect('launch', 200, { as: 'user', body: { resource: 'terminal', width: 800, height: 600 } }, 'reconnect');
  if (again.json?.session_id !== sid || again.json?.reconnected !== true) {
    results.get('launch').failures.push(`a second launch of Terminal did not reconnect to ${sid}: ${again.raw}`);
  }
  await expect('launch', '404 not_found', { as: 'user', body: { resource: 'no-such-app' } }, 'unknown resource');
  await expect('launch', '403 not_entitled', { as: 'user', body: { resource: 'contract-app' } }, 'not entitled');
  await expect('launch', '503 no_host', { as: 'user', body: { resource: 'contract-pool' } }, 'an image no host offers');
  // Launch files: the token once, for the file's user (reconnecting to the running session).
  const redeemed = await expect('redeemLaunchFile', 200, { body: { token: launchToken } });
  if (redeemed.json?.session_id !== sid || redeemed.json?.resource !== 'terminal') {
    results.get('redeemLaunchFile').failures.push(`the launch file did not reconnect to ${sid}: ${redeemed.raw}`);
  }
  await expect('redeemLaunchFile', '401 unauthenticated', { body: { token: launchToken } }, 'used already');
  await expect('redeemLaunchFile', '401 unauthenticated', { body: { token: crypto.randomBytes(32).toString('base64url') } }, 'forged');
  await expect('createLaunchFile', 200, { as: 'user', body: { session: sid } }, 'reconnect file');
  await expect('createLaunchFile', '404 not_found', { as: 'helpdesk', body: { session: sid } }, 'someone else\'s session');
  await expect('createLaunchFile', '404 not_found', { as: 'user', body: { resource: 'no-such-app' } }, 'unknown resource');
  await expect('createLaunchFile', '403 not_entitled', { as: 'user', body: { resource: 'contract-app' } }, 'not entitled');
  await expect('logoffSession', 204, { as: 'user', params: { id: sid }, body: {} });
  const second = await expect('launch', 200, { as: 'user', body: { resource: 'terminal' } }, 'after log off');
  const sid2 = second.json?.session_id;
  if (!sid2 || sid2 === sid) results.get('launch').failures.push(`a launch after log off did not start a new session: ${second.raw}`);
  await expect('deleteSession', 204, { as: 'helpdesk', params: { id: sid2 } });
  await expect('getSession', 200, { as: 'user', params: { id: sid2 } }, 'logged off');
  await expect('listSessions', 200, { as: 'admin', query: { scope: 'all', state: 'ended', user: DEMO, host: HOST } }, 'ended');
  // The history: both ended sessions, with why they ended; a second page after the first row. The
  // host confirms a log off a moment after the 204 (the session is "ending" until then).
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    if ((await expect('getSession', 200, { as: 'helpdesk', params: { id: sid2 } }, 'until it has ended')).json?.state === 'ended') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The history: both ended sessions, with why they ended; a second page after the first row.
  const history = await expect('listSessionHistory', 200, { as: 'helpdesk', query: { scope: 'all', user: DEMO, limit: 2 } }, 'everyone\'s');
  const rows = history.json ?? [];
  if (!rows.some((s) => s.id === sid2 && s.end_reason === 'admin_logoff' && s.ended_by === 'contract-helpdesk')
    || !rows.some((s) => s.id === sid && s.end_reason === 'user_logoff' && s.ended_by === DEMO)) {
    results.get('listSessionHistory').failures.push(`the history lacks ${sid2} (logged off by helpdesk) or ${sid} (by its user): ${history.raw}`);
  }
  const page2 = await expect('listSessionHistory', 200, { as: 'user', query: { limit: 1, before: rows[0]?.ended_at ?? 0, before_id: rows[0]?.id ?? '' } }, 'next page');
  if (page2.json?.[0]?.id !== rows[1]?.id) {
    results.get('listSessionHistory').failures.push(`the page after ${rows[0]?.id} does not start with ${rows[1]?.id}: ${page2.raw}`);
  }
  await expect('listSessionHistory', '403 forbidden', { as: 'user', query: { scope: 'all' } }, 'a user asks for everyone\'s');
  await expect('listSessionHistory', '400 bad_request', { as: 'user', query: { before_id: 'x' } }, 'before_id without before');

  // Users.
  await expect('listUsers', 200, { as: 'helpdesk' });
  await expect('createUser', '409 conflict', { as: 'admin', body: { name: 'contract-user' } }, 'exists');
  await expect('getUser', 200, { as: 'helpdesk', params: { name: 'contract-user' } });
  await expect('updateUser', 200, { as: 'admin', params: { name: 'contract-user' }, body: { role: 'helpdesk' } });
  await expect('updateUser', '409 conflict', { as: 'admin', params: { name: 'admin' }, body: { role: 'user' } }, 'the last admin');
  await expect('deleteUser', '409 conflict', { as: 'admin', params: { name: 'admin' } }, 'yourself');

  // Groups.
  await expect('listGroups', 200, { as: 'helpdesk' });
  await expect('getGroup', 200, { as: 'helpdesk', params: { name: 'contract-group' } });
  await expect('createGroup', '409 conflict', { as: 'admin', body: { name: 'contract-group' } }, 'exists');
  await expect('createGroup', '404 not_found', { as: 'admin', body: { name: 'contract-group-3', members: ['no-such-user'] } },
    'unknown member');
  await expect('addGroupMember', 204, { as: 'admin', params: { name: 'contract-group', user: 'contract-helpdesk' }, body: {} });
  await expect('removeGroupMember', 204, { as: 'admin', params: { name: 'contract-group', user: 'contract-helpdesk' } });
  await expect('removeGroupMember', '404 not_found', { as: 'admin', params: { name: 'contract-group', user: 'contract-helpdesk' } },
    'not a member');

  // Apps.
  await expect('listApps', 200, { as: 'helpdesk' });
  await expect('getApp', 200, { as: 'helpdesk', params: { id: 'contract-app' } });
  await expect('createApp', '409 conflict', { as: 'admin', body: { id: 'contract-app', name: 'Again', command: ['xterm'] } }, 'exists');
  await expect('createApp', '404 not_found', { as: 'admin', body: { id: 'contract-app-3', name: 'X', command: ['xterm'],
    entitlements: [{ user: 'no-such-user' }] } }, 'unknown entitled user');
  await expect('updateApp', 200, { as: 'admin', params: { id: 'contract-app' }, body: { name: 'Contract app (renamed)' } });
  const quoted = await expect('updateApp', 200, { as: 'admin', params: { id: 'contract-app' }, body: { command_line: 'xterm -title "two words"' } }, 'command_line');
  if (JSON.stringify(quoted.json?.command) !== '["xterm","-title","two words"]') {
    results.get('updateApp').failures.push(`command_line was not split as a shell would: ${quoted.raw}`);
  }
  await expect('updateApp', '400 bad_request', { as: 'admin', params: { id: 'contract-app' }, body: { command_line: 'xterm "open' } }, 'an unterminated quote');
  await expect('createApp', '400 bad_request', { as: 'admin', body: { id: 'contract-app-4', name: 'X' } }, 'no command');
  await expect('setAppEntitlements', 200, { as: 'admin', params: { id: 'contract-app' },
    body: { entitlements: [{ group: 'contract-group' }, { user: 'contract-user' }] } });
  await expect('setAppEntitlements', '404 not_found', { as: 'admin', params: { id: 'contract-app' },
    body: { entitlements: [{ group: 'no-such-group' }] } }, 'unknown entitled group');

  // Desktop pools.
  await expect('listPools', 200, { as: 'helpdesk' });
  await expect('getPool', 200, { as: 'helpdesk', params: { id: 'contract-pool' } });
  await expect('createPool', '409 conflict', { as: 'admin', body: { id: 'contract-pool', name: 'Again', image: 'contract-image',
    mode: 'dedicated' } }, 'exists');
  await expect('createPool', '400 bad_request', { as: 'admin', body: { id: 'contract-pool-3', name: 'X', image: 'contract-image',
    mode: 'dedicated', spares: 1 } }, 'spares in a dedicated pool');
  await expect('createPool', '404 not_found', { as: 'admin', body: { id: 'contract-pool-3', name: 'X', image: 'contract-image',
    mode: 'pooled', entitlements: [{ group: 'no-such-group' }] } }, 'unknown entitled group');
  await expect('updatePool', 200, { as: 'admin', params: { id: 'contract-pool' }, body: { size: 4 } });
  await expect('setPoolEntitlements', 200, { as: 'admin', params: { id: 'contract-pool' }, body: { entitlements: [{ group: 'users' }] } });
  await expect('setPoolEntitlements', '404 not_found', { as: 'admin', params: { id: 'contract-pool' },
    body: { entitlements: [{ user: 'no-such-user' }] } }, 'unknown entitled user');

  // Hosts and enrollment.
  await expect('listHosts', 200, { as: 'helpdesk' });
  await expect('getHost', 200, { as: 'helpdesk', params: { id: HOST } });
  await expect('drainHost', 200, { as: 'admin', params: { id: HOST }, body: {} });
  await expect('undrainHost', 200, { as: 'admin', params: { id: HOST } }, 'empty body');
  await expect('listEnrollmentTokens', 200, { as: 'admin' });
  await expect('createEnrollmentToken', 201, { as: 'admin' }, 'no body');
  await expect('enroll', '400 bad_request', { body: { token: tokens[1], host_id: 'contract-enrolled-2', csr_pem: 'not a CSR' } },
    'a bad CSR');
  await expect('enroll', '403 enrollment_refused', { body: { token: tokens[1], host_id: 'contract-enrolled-2', csr_pem: csr2 } },
    'the token was used by the bad CSR');
  await expect('removeHost', 204, { as: 'admin', params: { id: 'contract-enrolled' } });

  // Logins: a wrong password, throttling, and log out.
  await expect('login', '401 invalid_credentials', { body: { username: DEMO, password: 'wrong-password' } }, 'wrong password');
  // The first 5 failures of a user name cost nothing; after them each attempt must wait 1 s, 2 s, 4 s ...
  // after the previous one, so one sent at once is refused (a loaded machine may take over a second
  // to send the first: it then counts as a failure and the next delay is longer). 14 failures in
  // all from this address, below the 20 that would throttle the address itself.
  const wrong = { body: { username: 'contract-throttled', password: 'wrong-password' } };
  for (let i = 0; i < 5; i++) await expect('login', '401 invalid_credentials', wrong, `failure ${i + 1}`);
  let throttled = false;
  for (let i = 0; i < 8 && !throttled; i++) {
    throttled = (await expect('login', ['429 rate_limited', '401 invalid_credentials'], wrong, 'after 5 failures')).status === 429;
  }
  if (!throttled) results.get('login').failures.push('13 wrong passwords in a row were never answered 429');
  await expect('logout', 204, {}, 'not logged in');
  const spare = await expect('login', 200, { body: { username: DEMO, password: env.PORTICO_PASSWORD } }, 'a second login');
  cookies.spare = spare.headers['set-cookie']?.[0]?.split(';')[0];
  await expect('logout', 204, { as: 'spare' });
  await expect('getMe', '401 unauthenticated', { as: 'spare' }, 'after log out');

  // Audit (every action written so far, pool.* included, must be in the documented list) and metrics.
  await expect('listAudit', 200, { as: 'helpdesk', query: { limit: 1000 } });
  await expect('listAudit', 200, { as: 'admin', query: { action: 'pool.create', actor: 'admin', before: 1000000, limit: 5 } }, 'filtered');
  const csv = await expect('listAudit', 200, { as: 'helpdesk', query: { format: 'csv', action: 'session.launch' } }, 'CSV');
  const lines = csv.raw.toString('utf8').split('\r\n');
  if (lines[0] !== 'id,time,actor,action,target,from,detail' || !lines.some((l) => l.includes(`,demo,session.launch,${sid},`))
    || !/attachment; filename="portico-audit.csv"/.test(csv.headers['content-disposition'] ?? '')) {
    results.get('listAudit').failures.push(`the CSV download lacks its header or the launch of ${sid}: ${csv.raw.toString('utf8').slice(0, 300)}`);
  }
  await expect('getMetrics', 200, { as: 'admin' });
  await expect('getHealth', 200, {});

  // The deletes, last.
  await expect('deleteUser', 204, { as: 'admin', params: { name: 'contract-user' } });
  await expect('deleteGroup', 204, { as: 'admin', params: { name: 'contract-group' } });
  await expect('deleteApp', 204, { as: 'admin', params: { id: 'contract-app' } });
  await expect('deletePool', 204, { as: 'admin', params: { id: 'contract-pool' } });
}

// ---- verdict -------------------------------------------------------------------------------

function verdict() {
  const lines = [];
  let conforming = 0;
  for (const o of operations) {
    const r = results.get(o.operationId);
    const statuses = [...r.statuses].sort();
    const missing = [];
    if (!statuses.some((s) => s < 300)) missing.push('never called with a success');
    // x-error-only-when: an operation whose only error is a server condition no request can cause.
    if (!statuses.some((s) => s >= 400) && !o['x-error-only-when']) missing.push('never called with an error');
    if (!r.failures.length && !missing.length) conforming++;
    const mark = r.failures.length || missing.length ? 'FAIL' : 'ok  ';
    lines.push(`${mark} ${o.method.toUpperCase().padEnd(6)} ${o.path.padEnd(32)} ${o.operationId.padEnd(22)} ${statuses.join(' ')}`);
    for (const m of missing) lines.push(`       ${m}`);
    for (const f of r.failures) lines.push(`       ${f}`);
  }
  return { lines, conforming };
}

let crashed;
try {
  const unnamed = operations.filter((o) => !o.operationId);
  if (unnamed.length) throw new Error(`operations without operationId: ${unnamed.map((o) => `${o.method} ${o.path}`).join(', ')}`);
  await main();
} catch (e) {
  crashed = e;
}
const { lines, conforming } = verdict();
console.log(lines.join('\n'));
console.log(`\n${conforming} of ${operations.length} operations conform (${exchanges} requests)`);
if (crashed || conforming !== operations.length) {
  console.error(`contract test FAILED${crashed ? `: ${crashed.stack ?? crashed}` : ''}`);
  process.exit(1);
}
console.log('contract test passed');
