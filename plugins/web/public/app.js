// Tapline review page: one vanilla ES module, no build step, no framework (see ../API.md for the HTTP API).
//
// Rules this file keeps:
// - Everything a user or a call can influence (names, URIs, chat text, notes, SIP) goes into the page through
//   textContent / createTextNode (the h() helper below); nothing is ever assigned to innerHTML.
// - No inline scripts (the server's CSP: script-src 'self').

import WaveSurfer from '/assets/wavesurfer.esm.js';

// ---------------------------------------------------------------------------------------------------------------
// Constants

/** Which roles may open which view (the server enforces the same; this only hides what would answer 403). */
const ACCESS = {
  recordings: ['admin', 'supervisor', 'agent'],
  recording: ['admin', 'supervisor', 'agent'],
  chats: ['admin', 'supervisor', 'agent'],
  chat: ['admin', 'supervisor', 'agent'],
  live: ['admin', 'supervisor', 'agent'],
  users: ['admin'],
  accounts: ['admin'],
  policy: ['admin'],
  audit: ['admin', 'auditor'],
};
const LIVE_CONTROL_ROLES = ['admin', 'supervisor'];
const ROLES = ['admin', 'supervisor', 'agent', 'auditor'];
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const DIRECTIONS = ['inbound', 'outbound', 'internal', 'external', 'unknown'];
const DISPOSITIONS = ['answered', 'cancelled', 'rejected', 'busy', 'declined', 'no-answer', 'unanswered', 'failed'];
const FLAGS = ['not-decrypted', 'joined-mid-call', 'no-audio', 'packet-loss', 'concealed', 'undecoded', 'transferred',
  'raw-media', 'dtmf', 'srtp'];
const CODECS = ['PCMU', 'PCMA', 'G722', 'G729', 'SILK', 'RTAUDIO', 'OPUS', 'RED', 'CN'];
const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const SKIP_SEC = 10;
/** Waveform colours, caller (channel 0) on top and callee (channel 1) below; app.css's legend uses the same. */
const CHANNEL_COLOURS = [
  { waveColor: '#3b82f6', progressColor: '#1e40af' },
  { waveColor: '#10b981', progressColor: '#065f46' },
];
/** How long an ended live call stays visible (marked ended) before its row goes. */
const LIVE_ENDED_LINGER_MS = 2000;

// ---------------------------------------------------------------------------------------------------------------
// Small DOM helpers

/**
 * Creates an element. props: class, testid, data (dataset), on<event> listeners, a few live properties (value,
 * checked, disabled, selected, hidden), anything else as an attribute. Children: nodes, or strings that become
 * text nodes (so user text can never turn into markup), arrays of those; null/false/undefined are skipped.
 */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'data') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (['value', 'checked', 'disabled', 'selected', 'hidden'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function field(label, control, cls) {
  return h('label', { class: `field ${cls ?? ''}` }, h('span', { class: 'field-label' }, label), control);
}

function select(options, value, props) {
  const s = h('select', props, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [String(o), String(o)];
    return h('option', { value: v }, text);
  }));
  s.value = value ?? '';
  return s;
}

function button(text, onclick, props) {
  return h('button', { type: 'button', class: 'btn', ...props, onclick }, text);
}

function tableOf(testid, headers) {
  const tbody = h('tbody');
  const table = h('table', { class: 'table', testid }, h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))), tbody);
  return { table, tbody, wrap: h('div', { class: 'table-wrap' }, table) };
}

function td(...children) {
  return h('td', null, ...children);
}

/** A list of strings as small chips (codecs, flags, tags). */
function chips(list, cls = '') {
  return (list ?? []).map((t) => h('span', { class: `chip ${cls}` }, t));
}

/** A party: name above its URI when the name is known. */
function party(uri, name) {
  return name ? h('span', { class: 'party' }, h('span', null, name), h('span', { class: 'uri' }, uri)) : h('span', { class: 'uri' }, uri ?? '');
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? '') : d.toLocaleTimeString();
}

/** Seconds as m:ss or h:mm:ss. */
function fmtDur(sec) {
  if (sec === undefined || sec === null || !Number.isFinite(Number(sec))) return '';
  const s = Math.max(0, Math.floor(Number(sec)));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** An ISO instant as a datetime-local value ("YYYY-MM-DDTHH:mm") in the browser's time zone. */
function isoToLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A datetime-local value (no offset: the browser's zone, which is how Date parses it) as an ISO instant. */
function localInputToIso(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function splitList(text) {
  return String(text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

// ---------------------------------------------------------------------------------------------------------------
// Query strings <-> objects (saved searches store the query as an object; a repeated key becomes an array)

function paramsToObject(params) {
  const out = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    out[key] = all.length > 1 ? all : all[0];
  }
  return out;
}

function objectToParams(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined && one !== null && one !== '') p.append(k, String(one));
  }
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

const session = { user: null, csrf: null, oidc: false };

class ApiError extends Error {
  constructor(status, message, body, headers) {
    super(message);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: fall back to the status text */
  }
  const message = body?.error ?? body?.message ?? `${res.status} ${res.statusText || 'error'}`;
  return new ApiError(res.status, message, body, res.headers);
}

/**
 * Calls the API. JSON in and out (text for text/plain answers, null for 204). Adds the CSRF header to unsafe
 * methods. A 401 on anything but the login/session calls means the session ended: back to the login form.
 * opts.raw: give the Response back untouched (downloads).
 */
async function api(path, opts = {}) {
  const method = opts.method ?? 'GET';
  const headers = { accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  if (UNSAFE_METHODS.has(method) && session.csrf) headers['x-csrf-token'] = session.csrf;
  const res = await fetch(path, init);
  if (res.status === 401 && !path.startsWith('/api/login') && path !== '/api/session') {
    const err = await errorOf(res);
    sessionEnded(err.body?.oidc);
    throw err;
  }
  if (!res.ok) throw await errorOf(res);
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') ?? '';
  return type.includes('json') ? res.json() : res.text();
}

// ---------------------------------------------------------------------------------------------------------------
// Status messages (errors of actions that have no better place)

let statusTimer = 0;
function notify(text, kind = 'info') {
  const el = $('status');
  el.className = `status status-${kind} status-shown`;
  el.textContent = text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => el.classList.remove('status-shown'), kind === 'error' ? 8000 : 4000);
}

function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------------------
// Views: routing and lifetime

/**
 * Each navigation bumps viewGen; an async view checks ctx.alive() after each await so that an answer arriving
 * after the user moved on does not draw into the new view. onLeave functions (EventSource, WaveSurfer, timers)
 * run when the view is left.
 */
let viewGen = 0;
let leaving = [];
/** The last recordings search, for the recording page's "back to results" link. */
let lastSearchHash = '#/recordings';

function leaveView() {
  viewGen++;
  const fns = leaving;
  leaving = [];
  for (const fn of fns) {
    try {
      fn();
    } catch (e) {
      console.error(e);
    }
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { parts, query };
}

function resolveRoute(parts) {
  const [a, b, c] = parts;
  if (a === 'recordings' && b === undefined) return { view: 'recordings', render: viewRecordings };
  if (a === 'recordings' && c === undefined) return { view: 'recording', render: viewRecording, id: b };
  if (a === 'chats' && b === undefined) return { view: 'chats', render: viewChats };
  if (a === 'chats' && c === undefined) return { view: 'chat', render: viewChat, id: b };
  if (a === 'live' && b === undefined) return { view: 'live', render: viewLive };
  if (a === 'admin' && (b === undefined || b === 'users')) return { view: 'users', render: viewUsers };
  if (a === 'admin' && b === 'accounts') return { view: 'accounts', render: viewAccounts };
  if (a === 'admin' && b === 'policy') return { view: 'policy', render: viewPolicy };
  if (a === 'audit' && b === undefined) return { view: 'audit', render: viewAudit };
  return null;
}

function may(view) {
  return !!session.user && (ACCESS[view] ?? []).includes(session.user.role);
}

function homeHash() {
  return may('recordings') ? '#/recordings' : may('audit') ? '#/audit' : '#/';
}

function route() {
  if (!session.user) return showLogin();
  const { parts, query } = parseHash();
  const r = resolveRoute(parts);
  if (!r || !may(r.view)) {
    const home = homeHash();
    if (location.hash !== home && home !== '#/') return location.replace(home); // hashchange routes again
    return showNothing();
  }
  leaveView();
  const gen = viewGen;
  const main = $('main');
  main.replaceChildren();
  document.body.dataset.view = r.view;
  renderNav(r.view);
  const ctx = { id: r.id, query, alive: () => gen === viewGen, onLeave: (fn) => leaving.push(fn) };
  Promise.resolve(r.render(main, ctx)).catch((e) => {
    if (ctx.alive()) main.append(h('p', { class: 'error', testid: 'view-error' }, errorText(e)));
  });
}

/** A user whose role opens no view (shouldn't happen with the four roles). */
function showNothing() {
  leaveView();
  document.body.dataset.view = 'none';
  renderNav('');
  $('main').replaceChildren(h('p', { class: 'muted' }, 'There is nothing this account may open.'));
}

/** Pushes a new query for the current view without re-rendering it (the view updates itself). */
function setHashQuery(path, params) {
  const qs = params.toString();
  const target = `#${path}${qs ? `?${qs}` : ''}`;
  if (location.hash !== target) history.pushState(null, '', target);
  return target;
}

// ---------------------------------------------------------------------------------------------------------------
// Session: login, logout, header

function setSession(s) {
  session.user = s.user;
  session.csrf = s.csrf;
  if (s.oidc !== undefined) session.oidc = !!s.oidc;
  $('top').hidden = false;
  $('who').textContent = `${s.user.name || s.user.username} · ${s.user.role}`;
}

/** A 401 from any call: forget the session and show the login form (the hash stays, to come back to it). */
function sessionEnded(oidc) {
  if (!session.user) return;
  session.user = null;
  session.csrf = null;
  if (oidc !== undefined) session.oidc = !!oidc;
  showLogin('Your session has ended; please log in again.');
}

function showLogin(message) {
  leaveView();
  session.user = null;
  session.csrf = null;
  $('top').hidden = true;
  document.body.dataset.view = 'login';
  const error = h('p', { class: 'error', testid: 'login-error', role: 'alert', hidden: !message }, message ?? '');
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, testid: 'login-username' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'login-submit' }, 'Log in');
  const sso = h('p', { class: 'sso', hidden: !session.oidc },
    h('a', { href: '/api/login/oidc', testid: 'login-oidc', class: 'btn btn-quiet' }, 'Log in with single sign-on'));
  const form = h('form', { class: 'login card', testid: 'login-form' },
    h('h1', null, 'Tapline'), h('p', { class: 'muted' }, 'Call and chat recordings'),
    field('Username', username), field('Password', password), error, h('div', { class: 'actions' }, submit), sso);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true; // a slowed (throttled) answer can take a while: one attempt at a time
    error.hidden = true;
    try {
      const s = await api('/api/login', { method: 'POST', body: { username: username.value, password: password.value } });
      setSession(s);
      route();
    } catch (e) {
      error.textContent = loginErrorText(e);
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  $('main').replaceChildren(h('div', { class: 'login-wrap' }, form));
  username.focus();
}

function loginErrorText(e) {
  if (!(e instanceof ApiError)) return `Could not reach the server: ${errorText(e)}`;
  if (e.status === 429) {
    const wait = retryAfterSec(e.headers?.get('retry-after'));
    const base = e.body?.error ?? 'Too many failed attempts; login is locked for now.';
    return wait ? `${base} Try again in ${fmtWait(wait)}.` : base;
  }
  if (e.status === 401) return e.body?.error ?? 'Wrong username or password.';
  return e.message;
}

/** Retry-After is seconds or an HTTP date. */
function retryAfterSec(value) {
  if (!value) return 0;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

function fmtWait(sec) {
  return sec < 90 ? `${sec} s` : `${Math.ceil(sec / 60)} min`;
}

async function logout() {
  try {
    await api('/api/logout', { method: 'POST' });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) notify(`Logout failed: ${errorText(e)}`, 'error');
  }
  showLogin(); // the hash stays: logging in again comes back here (or home, if the next role may not see it)
}

const NAV = [
  { view: 'recordings', href: '#/recordings', text: 'Recordings', testid: 'nav-recordings', views: ['recordings', 'recording'] },
  { view: 'chats', href: '#/chats', text: 'Chats', testid: 'nav-chats', views: ['chats', 'chat'] },
  { view: 'live', href: '#/live', text: 'Live', testid: 'nav-live', views: ['live'] },
  { view: 'users', href: '#/admin/users', text: 'Admin', testid: 'nav-admin', views: ['users', 'accounts', 'policy'] },
  { view: 'audit', href: '#/audit', text: 'Audit', testid: 'nav-audit', views: ['audit'] },
];

function renderNav(current) {
  $('nav').replaceChildren(...NAV.filter((n) => may(n.view)).map((n) =>
    h('a', { href: n.href, testid: n.testid, class: n.views.includes(current) ? 'active' : '', 'aria-current': n.views.includes(current) ? 'page' : false }, n.text)));
}

function adminTabs(current) {
  const tabs = [['users', '#/admin/users', 'Recorded users'], ['accounts', '#/admin/accounts', 'Accounts'], ['policy', '#/admin/policy', 'Policy']];
  return h('nav', { class: 'tabs', 'aria-label': 'Administration' }, tabs.map(([v, href, text]) =>
    h('a', { href, testid: `nav-${v}`, class: v === current ? 'active' : '' }, text)));
}

// ---------------------------------------------------------------------------------------------------------------
// Paged tables ("Load more" with the API's next cursor)

/**
 * fetchPage(cursor) → {items, next}; renderRow(item) → <tr>. reload() starts over, the button fetches the next
 * page and appends. Only the newest reload's answers are drawn (a slow older search must not append to a newer).
 */
function pager(ctx, { tbody, fetchPage, renderRow, emptyText, colspan }) {
  let next;
  let run = 0;
  const more = button('Load more', () => load(false), { testid: 'load-more', hidden: true, class: 'btn more' });
  const info = h('p', { class: 'muted pager-info', testid: 'pager-info' });
  async function load(fresh) {
    const mine = fresh ? ++run : run;
    more.disabled = true;
    try {
      const page = await fetchPage(fresh ? undefined : next);
      if (!ctx.alive() || mine !== run) return;
      if (fresh) tbody.replaceChildren();
      for (const item of page.items ?? []) tbody.append(renderRow(item));
      next = page.next;
      more.hidden = !next;
      if (tbody.children.length === 0) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan }, emptyText)));
      info.textContent = '';
    } catch (e) {
      if (ctx.alive() && mine === run) info.textContent = errorText(e);
    } finally {
      more.disabled = false;
    }
  }
  return { more, info, reload: () => load(true) };
}

// ---------------------------------------------------------------------------------------------------------------
// Recordings search

/** The filter form; read() gives the API query (ISO instants), fill() takes one (from the hash). */
function recordingFilters() {
  const c = {
    from: h('input', { type: 'datetime-local', name: 'from', testid: 'filter-from' }),
    to: h('input', { type: 'datetime-local', name: 'to', testid: 'filter-to' }),
    user: h('input', { name: 'user', testid: 'filter-user', placeholder: 'URI or name' }),
    party: h('input', { name: 'party', testid: 'filter-party', placeholder: 'number or URI' }),
    direction: select([['', 'any'], ...DIRECTIONS], '', { name: 'direction', testid: 'filter-direction' }),
    disposition: select([['', 'any'], ...DISPOSITIONS], '', { name: 'disposition', testid: 'filter-disposition' }),
    minDuration: h('input', { type: 'number', min: 0, step: 1, name: 'minDuration', testid: 'filter-min-duration', placeholder: 's' }),
    maxDuration: h('input', { type: 'number', min: 0, step: 1, name: 'maxDuration', testid: 'filter-max-duration', placeholder: 's' }),
    codec: h('input', { name: 'codec', list: 'codec-list', testid: 'filter-codec', placeholder: 'PCMU…' }),
    tag: h('input', { name: 'tag', testid: 'filter-tag' }),
    sort: select([['start', 'start time'], ['duration', 'duration']], 'start', { name: 'sort', testid: 'filter-sort' }),
    order: select([['desc', 'newest / longest first'], ['asc', 'oldest / shortest first']], 'desc', { name: 'order', testid: 'filter-order' }),
  };
  const flags = FLAGS.map((f) => h('input', { type: 'checkbox', value: f, data: { flag: f } }));
  const flagBox = h('fieldset', { class: 'flags', testid: 'filter-flags' }, h('legend', null, 'Flags'),
    flags.map((cb) => h('label', { class: 'check' }, cb, cb.value)));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'search-submit' }, 'Search');
  const reset = h('button', { type: 'reset', class: 'btn btn-quiet' }, 'Clear');
  const el = h('form', { class: 'filters card', testid: 'filters' },
    h('div', { class: 'grid' },
      field('From', c.from), field('To', c.to), field('User', c.user), field('Party', c.party),
      field('Direction', c.direction), field('Disposition', c.disposition),
      field('Min duration (s)', c.minDuration), field('Max duration (s)', c.maxDuration),
      field('Codec', c.codec), field('Tag', c.tag), field('Sort by', c.sort), field('Order', c.order)),
    flagBox,
    h('datalist', { id: 'codec-list' }, CODECS.map((x) => h('option', { value: x }))),
    h('div', { class: 'actions' }, submit, reset));

  function read() {
    const p = new URLSearchParams();
    const from = localInputToIso(c.from.value);
    const to = localInputToIso(c.to.value);
    if (from) p.set('from', from);
    if (to) p.set('to', to);
    for (const k of ['user', 'party', 'direction', 'disposition', 'minDuration', 'maxDuration', 'codec', 'tag']) {
      const v = c[k].value.trim();
      if (v) p.set(k, v);
    }
    for (const cb of flags) if (cb.checked) p.append('flag', cb.value);
    // The defaults stay out of the query so that hashes and saved searches stay short.
    if (c.sort.value !== 'start') p.set('sort', c.sort.value);
    if (c.order.value !== 'desc') p.set('order', c.order.value);
    return p;
  }

  function fill(q) {
    c.from.value = isoToLocalInput(q.get('from'));
    c.to.value = isoToLocalInput(q.get('to'));
    for (const k of ['user', 'party', 'minDuration', 'maxDuration', 'codec', 'tag']) c[k].value = q.get(k) ?? '';
    // A value from a hand-written hash that the select lacks still gets an option, so it is not silently dropped.
    for (const k of ['direction', 'disposition']) setSelect(c[k], q.get(k) ?? '');
    setSelect(c.sort, q.get('sort') ?? 'start');
    setSelect(c.order, q.get('order') ?? 'desc');
    const on = new Set(q.getAll('flag'));
    for (const cb of flags) cb.checked = on.has(cb.value);
    for (const f of on) {
      if (!flags.some((cb) => cb.value === f)) {
        const cb = h('input', { type: 'checkbox', value: f, checked: true });
        flags.push(cb);
        flagBox.append(h('label', { class: 'check' }, cb, f));
      }
    }
  }
  return { el, read, fill };
}

function setSelect(sel, value) {
  if (value && ![...sel.options].some((o) => o.value === value)) sel.append(h('option', { value }, value));
  sel.value = value;
}

async function viewRecordings(main, ctx) {
  const filters = recordingFilters();
  filters.fill(ctx.query);
  const { table, tbody, wrap } = tableOf('results',
    ['', 'Start', 'Duration', 'From', 'To', 'Direction', 'Disposition', 'Codecs', 'Flags', 'Tags']);
  table.classList.add('results');
  const selected = new Set();
  let query = ctx.query;
  const pg = pager(ctx, {
    tbody,
    colspan: 10,
    emptyText: 'No recordings match.',
    fetchPage: (cursor) => {
      const p = new URLSearchParams(query);
      if (cursor) p.set('cursor', cursor);
      return api(`/api/recordings?${p}`);
    },
    renderRow: (row) => recordingRow(row, selected),
  });
  const exportBtn = button('Export selected', () => exportSelected(selected), { testid: 'export', class: 'btn btn-quiet' });

  function search(params) {
    query = params;
    lastSearchHash = setHashQuery('/recordings', params);
    selected.clear();
    return pg.reload();
  }
  filters.el.addEventListener('submit', (ev) => {
    ev.preventDefault();
    search(filters.read());
  });
  filters.el.addEventListener('reset', () => setTimeout(() => search(new URLSearchParams())));

  const saved = savedSearches(ctx, () => filters.read(), (params) => {
    filters.fill(params);
    search(params);
  });
  main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Recordings')),
    h('div', { class: 'search-layout' }, filters.el, saved.el),
    h('div', { class: 'results-head' }, h('h2', null, 'Results'), exportBtn),
    wrap, pg.info, pg.more);
  lastSearchHash = location.hash || '#/recordings';
  await Promise.all([pg.reload(), saved.load()]);
}

function recordingRow(row, selected) {
  const href = `#/recordings/${enc(row.id)}`;
  const cb = h('input', { type: 'checkbox', 'aria-label': 'select', onchange: () => (cb.checked ? selected.add(row.id) : selected.delete(row.id)) });
  const tr = h('tr', { testid: 'result-row', data: { id: row.id }, class: 'clickable' },
    td(cb),
    td(h('a', { href }, fmtDate(row.start))),
    td(fmtDur(row.durationSec)),
    td(party(row.from, row.fromName)),
    td(party(row.to, row.toName)),
    td(row.direction ?? ''),
    td(row.disposition ?? ''),
    td(chips(row.codecs)),
    td(chips(row.flags, 'chip-flag')),
    td(chips(row.tags, 'chip-tag')));
  // The whole row opens the recording, except the checkbox and the link (which does so itself).
  tr.addEventListener('click', (ev) => {
    if (ev.target.closest('a, input, button')) return;
    location.hash = href;
  });
  return tr;
}

/** POST /api/export answers a zip: save it through a temporary object URL. */
async function exportSelected(selected) {
  if (selected.size === 0) return notify('Select recordings to export first.');
  try {
    const res = await api('/api/export', { method: 'POST', body: { ids: [...selected] }, raw: true });
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: 'recordings.zip', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (e) {
    notify(`Export failed: ${errorText(e)}`, 'error');
  }
}

/** Saved searches: list (apply on click, delete), and "save" of the current filters under a name. */
function savedSearches(ctx, currentParams, apply) {
  const list = h('ul', { class: 'saved-list', testid: 'saved-searches' });
  const name = h('input', { name: 'name', placeholder: 'Name', testid: 'save-search-name', 'aria-label': 'Name of the search' });
  const save = h('button', { type: 'submit', class: 'btn', testid: 'save-search' }, 'Save search');
  const form = h('form', { class: 'save-form' }, name, save);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const params = currentParams();
    // Without a name, the filters themselves name it, so saving never silently does nothing.
    const label = name.value.trim() || describeQuery(params);
    try {
      await api('/api/searches', { method: 'POST', body: { name: label, query: paramsToObject(params) } });
      name.value = '';
      await load();
    } catch (e) {
      notify(`Could not save the search: ${errorText(e)}`, 'error');
    }
  });

  async function load() {
    const r = await api('/api/searches');
    if (!ctx.alive()) return;
    const items = r.items ?? [];
    list.replaceChildren(...items.map((s) => h('li', { testid: 'saved-search', data: { id: s.id } },
      h('button', { type: 'button', class: 'link', title: describeQuery(objectToParams(s.query)), onclick: () => apply(objectToParams(s.query)) }, s.name),
      h('button', { type: 'button', class: 'btn btn-icon', testid: 'saved-search-delete', 'aria-label': `Delete ${s.name}`, title: 'Delete', onclick: () => remove(s) }, '×'))));
    if (items.length === 0) list.append(h('li', { class: 'muted' }, 'None yet.'));
  }

  async function remove(s) {
    try {
      await api(`/api/searches/${enc(s.id)}`, { method: 'DELETE' });
      await load();
    } catch (e) {
      notify(`Could not delete the search: ${errorText(e)}`, 'error');
    }
  }
  const el = h('aside', { class: 'saved card' }, h('h2', null, 'Saved searches'), list, form);
  return { el, load: () => load().catch((e) => ctx.alive() && list.replaceChildren(h('li', { class: 'error' }, errorText(e)))) };
}

function describeQuery(params) {
  const parts = [];
  for (const [k, v] of params) parts.push(k === 'from' || k === 'to' ? `${k} ${fmtDate(v)}` : `${k} ${v}`);
  return parts.length ? parts.join(', ') : 'All recordings';
}

// ---------------------------------------------------------------------------------------------------------------
// Recording page

async function viewRecording(main, ctx) {
  const root = h('section', { class: 'recording', testid: 'recording', data: { id: ctx.id } });
  main.append(root);
  const d = await api(`/api/recordings/${enc(ctx.id)}`);
  if (!ctx.alive()) return;
  const r = d.recording;
  const slot = h('section', { class: 'player card', testid: 'player' });
  const seeker = { seek: null }; // set once the player exists; the event list seeks through it
  // The page is laid out first so that the waveform container has its final width when WaveSurfer measures it.
  append(root, [
    h('div', { class: 'page-head' },
      h('a', { href: lastSearchHash, class: 'back', testid: 'back' }, '← Results'),
      h('h1', null, r.fromName || r.from, ' → ', r.toName || r.to)),
    summary(r),
    partsOf(r, d.parts ?? []),
    slot,
    eventList(d.events ?? [], seeker),
    h('div', { class: 'columns' }, tagsEditor(ctx.id, r.tags ?? []), notesPanel(ctx.id, d.notes ?? [])),
    d.sip ? sipPanel(ctx.id) : null,
    h('details', { class: 'card metadata' }, h('summary', null, 'Full metadata'),
      h('pre', { testid: 'metadata' }, JSON.stringify(d.metadata ?? {}, null, 2)))]);
  await player(ctx, root, slot, d, seeker);
}

/** A call a recorder failover split: its parts, in order, this one marked. */
function partsOf(r, parts) {
  if (parts.length < 2) return null;
  return h('nav', { class: 'card parts', testid: 'parts' },
    h('strong', null, `Part ${parts.findIndex((p) => p.id === r.id) + 1} of ${parts.length} of this call: `),
    parts.map((p, i) => [i > 0 ? ' · ' : '', p.id === r.id
      ? h('span', { class: 'current' }, `part ${i + 1} (${fmtDate(p.start)})`)
      : h('a', { href: `#/recordings/${enc(p.id)}` }, `part ${i + 1} (${fmtDate(p.start)})`)]));
}

function summary(r) {
  const rows = [
    ['From', party(r.from, r.fromName)],
    ['To', party(r.to, r.toName)],
    ['Start', fmtDate(r.start)],
    ['Duration', fmtDur(r.durationSec)],
    ['Direction', r.direction ?? ''],
    ['Disposition', r.disposition ?? ''],
    ['Status', r.status ?? ''],
    ['Codecs', chips(r.codecs)],
    ['Flags', (r.flags ?? []).length ? chips(r.flags, 'chip-flag') : 'none'],
    ['Call-ID', h('span', { class: 'uri' }, r.callId ?? '')],
  ];
  return h('dl', { class: 'summary card', testid: 'summary' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function recordingError(section, text) {
  let el = section.querySelector('[data-testid="recording-error"]');
  if (!el) section.append(el = h('p', { class: 'error', testid: 'recording-error', role: 'alert' }));
  el.textContent = text;
}

/**
 * The player: an <audio> element (ours, so tests and controls use it directly) that WaveSurfer drives and draws
 * from the precomputed peaks, so the waveform needs no audio download. The controls act on the <audio>; the
 * waveform is only a view of it.
 */
async function player(ctx, root, section, d, seeker) {
  const id = ctx.id;
  const formats = ['ogg', 'wav'].filter((f) => d.audio?.[f]);
  if (formats.length === 0) return recordingError(section, 'The audio of this recording is not available.');
  const audio = h('audio', { testid: 'audio', preload: 'metadata', hidden: true });
  let format = formats[0];
  audio.src = `/api/recordings/${enc(id)}/audio?format=${format}`;
  audio.addEventListener('error', () => {
    // An Ogg the browser cannot play may still play as WAV.
    if (format === 'ogg' && formats.includes('wav')) {
      format = 'wav';
      audio.src = `/api/recordings/${enc(id)}/audio?format=wav`;
      return;
    }
    recordingError(section, `The audio could not be loaded${audio.error?.message ? ` (${audio.error.message})` : ''}.`);
  });
  ctx.onLeave(() => {
    audio.pause();
    audio.removeAttribute('src');
    audio.load(); // drops the connection of a half-downloaded stream
  });

  const peaks = await api(`/api/recordings/${enc(id)}/peaks`).catch(() => null);
  if (!ctx.alive()) return;
  const duration = Number(peaks?.durationSec) || Number(d.recording.durationSec) || 0;
  const knownDuration = () => (Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : duration);

  const wave = h('div', { class: 'waveform', testid: 'waveform' });
  const markers = h('div', { class: 'markers', testid: 'markers' });
  const controls = playerControls(id, audio, knownDuration, d.audio);
  section.append(audio, h('div', { class: 'wave-wrap' }, markers, wave), legend(d.recording), controls.el);
  seeker.seek = controls.seek;
  drawMarkers(markers, d.events ?? [], duration, controls.seek);

  const channels = Array.isArray(peaks?.channels) ? peaks.channels.filter((c) => Array.isArray(c) && c.length > 0) : [];
  if (channels.length === 0 || !duration) {
    wave.append(h('p', { class: 'muted', testid: 'waveform-error' }, 'The waveform is not available; the audio still plays.'));
    return;
  }
  const ws = WaveSurfer.create({
    container: wave,
    media: audio,
    peaks: channels,
    duration,
    height: 64, // per channel
    splitChannels: channels.map((_, i) => CHANNEL_COLOURS[i % CHANNEL_COLOURS.length]),
    cursorColor: '#dc2626',
    cursorWidth: 2,
    barWidth: 2,
    barGap: 1,
    barRadius: 1,
    dragToSeek: true,
  });
  const ready = () => (root.dataset.ready = '1');
  ws.on('ready', ready);
  ws.on('redraw', ready);
  ws.on('timeupdate', controls.update);
  ctx.onLeave(() => ws.destroy());
}

/** Play/Pause, speed, ±10 s, time, download. */
function playerControls(id, audio, knownDuration, available) {
  const play = button('Play', () => (audio.paused ? startPlaying() : audio.pause()), { testid: 'player-play', class: 'btn btn-primary play' });
  const speed = select(SPEEDS.map((s) => [String(s), `${s}×`]), '1', { testid: 'player-speed', 'aria-label': 'Speed' });
  const back = button(`−${SKIP_SEC} s`, () => seek(audio.currentTime - SKIP_SEC), { testid: 'player-back', title: `Back ${SKIP_SEC} seconds` });
  const forward = button(`+${SKIP_SEC} s`, () => seek(audio.currentTime + SKIP_SEC), { testid: 'player-forward', title: `Forward ${SKIP_SEC} seconds` });
  const time = h('span', { class: 'time', testid: 'player-time' }, '0:00 / 0:00');
  const dlFormat = available?.wav ? 'wav' : 'ogg';
  const download = h('a', {
    href: `/api/recordings/${enc(id)}/audio?format=${dlFormat}&download=1`,
    download: `${id}.${dlFormat === 'wav' ? 'wav' : 'opus'}`,
    class: 'btn btn-quiet',
    testid: 'player-download',
  }, 'Download');

  function startPlaying() {
    audio.play().catch((e) => notify(`Cannot play: ${errorText(e)}`, 'error'));
  }
  function seek(t) {
    const max = knownDuration();
    audio.currentTime = Math.max(0, max > 0 ? Math.min(t, max) : t);
    update();
  }
  function update() {
    time.textContent = `${fmtDur(audio.currentTime)} / ${fmtDur(knownDuration())}`;
  }
  speed.addEventListener('change', () => {
    // defaultPlaybackRate too: a reload of the source (WAV fallback) would otherwise reset the speed.
    audio.defaultPlaybackRate = audio.playbackRate = Number(speed.value);
  });
  audio.addEventListener('play', () => (play.textContent = 'Pause'));
  audio.addEventListener('pause', () => (play.textContent = 'Play'));
  for (const ev of ['timeupdate', 'seeked', 'durationchange', 'loadedmetadata', 'ended']) audio.addEventListener(ev, update);
  update();
  const el = h('div', { class: 'controls' }, back, play, forward, time, field('Speed', speed, 'inline'), download);
  return { el, seek, update };
}

function legend(r) {
  return h('p', { class: 'legend' },
    h('span', { class: 'swatch swatch-caller' }), 'Caller ', h('span', { class: 'uri' }, r.fromName || r.from), ' ',
    h('span', { class: 'swatch swatch-callee' }), 'Callee ', h('span', { class: 'uri' }, r.toName || r.to));
}

/** Event marks across the waveform, at atSec/duration of its width. */
function drawMarkers(layer, events, duration, seek) {
  if (!duration) return;
  for (const ev of events) {
    const pct = Math.min(100, Math.max(0, (Number(ev.atSec) / duration) * 100));
    const mark = h('button', {
      type: 'button', class: `marker marker-${ev.kind}`, testid: 'event-marker',
      data: { kind: ev.kind, at: ev.atSec }, title: `${fmtDur(ev.atSec)} ${ev.label}`, onclick: () => seek(Number(ev.atSec)),
    }, h('span', { class: 'marker-label' }, ev.label || ev.kind));
    mark.style.left = `${pct}%`;
    layer.append(mark);
  }
}

function eventList(events, seeker) {
  if (events.length === 0) return null;
  const list = h('ol', { class: 'events', testid: 'events' }, events.map((ev) =>
    h('li', null, h('button', {
      type: 'button', class: 'link', testid: 'event-item', data: { at: ev.atSec },
      onclick: () => seeker.seek?.(Number(ev.atSec)),
    }, h('span', { class: 'time' }, fmtDur(ev.atSec)), ' ', h('span', { class: `chip kind-${ev.kind}` }, ev.kind), ' ', ev.label))));
  return h('section', { class: 'card' }, h('h2', null, 'Events'), list);
}


function tagsEditor(id, tags) {
  const shown = h('div', { class: 'tag-list', testid: 'tags' }, chips(tags, 'chip-tag'));
  const input = h('input', { value: tags.join(', '), testid: 'tags-input', 'aria-label': 'Tags, comma-separated', placeholder: 'tag, another tag' });
  const save = h('button', { type: 'submit', class: 'btn', testid: 'tags-save' }, 'Save tags');
  const form = h('form', { class: 'inline-form' }, input, save);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    save.disabled = true;
    try {
      const r = await api(`/api/recordings/${enc(id)}/tags`, { method: 'PUT', body: { tags: splitList(input.value) } });
      const now = r?.tags ?? splitList(input.value);
      shown.replaceChildren(...chips(now, 'chip-tag'));
      input.value = now.join(', ');
      notify('Tags saved.');
    } catch (e) {
      notify(`Could not save the tags: ${errorText(e)}`, 'error');
    } finally {
      save.disabled = false;
    }
  });
  return h('section', { class: 'card' }, h('h2', null, 'Tags'), shown, form);
}

function noteItem(n) {
  return h('li', { testid: 'note', class: 'note' },
    h('div', { class: 'note-head' }, h('strong', null, n.author ?? ''), ' ', h('span', { class: 'muted' }, fmtDate(n.at))),
    h('div', { class: 'note-text' }, n.text ?? ''));
}

function notesPanel(id, notes) {
  const list = h('ul', { class: 'notes', testid: 'notes' }, notes.map(noteItem));
  const text = h('textarea', { rows: 3, testid: 'note-text', 'aria-label': 'New note', placeholder: 'Add a note…', required: true });
  const add = h('button', { type: 'submit', class: 'btn', testid: 'note-add' }, 'Add note');
  const form = h('form', { class: 'note-form' }, text, add);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) return;
    add.disabled = true;
    try {
      const n = await api(`/api/recordings/${enc(id)}/notes`, { method: 'POST', body: { text: text.value } });
      list.append(noteItem(n));
      text.value = '';
    } catch (e) {
      notify(`Could not add the note: ${errorText(e)}`, 'error');
    } finally {
      add.disabled = false;
    }
  });
  return h('section', { class: 'card' }, h('h2', null, 'Notes'), list, form);
}

/** The SIP dialog, fetched on demand and shown as text (it is attacker-influenced: never markup). */
function sipPanel(id) {
  const href = `/api/recordings/${enc(id)}/sip`;
  const pre = h('pre', { class: 'sip', testid: 'sip', hidden: true });
  const link = h('a', { href, testid: 'sip-link' }, 'Show the SIP dialog');
  link.addEventListener('click', async (ev) => {
    ev.preventDefault();
    if (!pre.hidden) {
      pre.hidden = true;
      link.textContent = 'Show the SIP dialog';
      return;
    }
    try {
      const text = await api(href);
      pre.textContent = typeof text === 'string' ? text : JSON.stringify(text, null, 2);
      pre.hidden = false;
      link.textContent = 'Hide the SIP dialog';
    } catch (e) {
      notify(`Could not load the SIP dialog: ${errorText(e)}`, 'error');
    }
  });
  return h('section', { class: 'card' }, h('h2', null, 'SIP'), link, pre);
}

// ---------------------------------------------------------------------------------------------------------------
// Chats

async function viewChats(main, ctx) {
  const from = h('input', { type: 'datetime-local', testid: 'chat-filter-from' });
  const to = h('input', { type: 'datetime-local', testid: 'chat-filter-to' });
  const user = h('input', { testid: 'chat-filter-user', placeholder: 'URI or name' });
  from.value = isoToLocalInput(ctx.query.get('from'));
  to.value = isoToLocalInput(ctx.query.get('to'));
  user.value = ctx.query.get('user') ?? '';
  const form = h('form', { class: 'filters card' },
    h('div', { class: 'grid' }, field('From', from), field('To', to), field('User', user)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', testid: 'chat-search' }, 'Search')));
  const { tbody, wrap } = tableOf('chats', ['Start', 'End', 'Participants', 'Messages']);
  let query = ctx.query;
  const pg = pager(ctx, {
    tbody,
    colspan: 4,
    emptyText: 'No chats match.',
    fetchPage: (cursor) => {
      const p = new URLSearchParams(query);
      if (cursor) p.set('cursor', cursor);
      return api(`/api/chats?${p}`);
    },
    renderRow: chatRow,
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (localInputToIso(from.value)) p.set('from', localInputToIso(from.value));
    if (localInputToIso(to.value)) p.set('to', localInputToIso(to.value));
    if (user.value.trim()) p.set('user', user.value.trim());
    query = p;
    setHashQuery('/chats', p);
    pg.reload();
  });
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Chats')), form, wrap, pg.info, pg.more);
  await pg.reload();
}

function chatRow(c) {
  const href = `#/chats/${enc(c.id)}`;
  const tr = h('tr', { testid: 'chat-row', data: { id: c.id }, class: 'clickable' },
    td(h('a', { href }, fmtDate(c.start))),
    td(fmtDate(c.end)),
    td((c.participants ?? []).map((p) => h('span', { class: 'uri block' }, p))),
    td(String(c.messages ?? '')));
  tr.addEventListener('click', (ev) => {
    if (!ev.target.closest('a')) location.hash = href;
  });
  return tr;
}

async function viewChat(main, ctx) {
  const d = await api(`/api/chats/${enc(ctx.id)}`);
  if (!ctx.alive()) return;
  const t = d.transcript ?? { participants: [], messages: [] };
  const names = new Map((t.participants ?? []).map((p) => [p.uri, p.name]));
  const people = h('ul', { class: 'participants', testid: 'chat-participants' }, (t.participants ?? []).map((p) =>
    h('li', null, party(p.uri, p.name), p.role ? h('span', { class: 'chip' }, p.role) : null)));
  const messages = h('ol', { class: 'transcript', testid: 'transcript' }, (t.messages ?? []).map((m) =>
    h('li', { class: 'msg', testid: 'chat-message', data: { seq: m.seq } },
      h('div', { class: 'msg-head' },
        h('time', { datetime: m.at, title: fmtDate(m.at) }, fmtTime(m.at)), ' ',
        h('strong', { class: 'msg-author' }, m.author?.name || names.get(m.author?.uri) || m.author?.uri || '')),
      h('div', { class: 'msg-text' }, m.text ?? ''))));
  if ((t.messages ?? []).length === 0) messages.append(h('li', { class: 'muted' }, 'No messages.'));
  main.append(h('section', { class: 'chat', testid: 'chat', data: { id: d.id ?? ctx.id } },
    h('div', { class: 'page-head' }, h('a', { href: '#/chats', class: 'back' }, '← Chats'), h('h1', null, 'Chat')),
    h('section', { class: 'card' }, h('h2', null, 'Participants'), people),
    h('section', { class: 'card' }, h('h2', null, 'Transcript'), messages)));
}

// ---------------------------------------------------------------------------------------------------------------
// Live calls

async function viewLive(main, ctx) {
  const canControl = LIVE_CONTROL_ROLES.includes(session.user.role);
  const { tbody, wrap } = tableOf('live-table', ['From', 'To', 'State', 'Started', 'Length', 'Recording', canControl ? 'Control' : null].filter(Boolean));
  const status = h('p', { class: 'muted', testid: 'live-status' }, 'Connecting…');
  const rows = new Map(); // call key → { tr, call, ended }
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Live calls'), status), wrap);
  const empty = h('tr', { class: 'empty' }, h('td', { colspan: canControl ? 7 : 6 }, 'No calls in progress.'));

  function refreshEmpty() {
    if (rows.size === 0 && !empty.isConnected) tbody.append(empty);
    if (rows.size > 0) empty.remove();
  }
  function upsert(call) {
    let entry = rows.get(call.key);
    if (!entry) {
      entry = { tr: h('tr', { testid: 'live-row', data: { key: call.key } }) };
      rows.set(call.key, entry);
      tbody.append(entry.tr);
    }
    entry.call = call;
    clearTimeout(entry.removeTimer);
    fillLiveRow(entry.tr, call, canControl, upsert);
    refreshEmpty();
  }
  function ended(key) {
    const entry = rows.get(key);
    if (!entry) return;
    entry.tr.dataset.state = 'ended';
    entry.tr.classList.add('ended');
    entry.tr.querySelectorAll('button').forEach((b) => (b.disabled = true));
    const stateCell = entry.tr.querySelector('.state');
    if (stateCell) stateCell.textContent = 'ended';
    entry.removeTimer = setTimeout(() => {
      entry.tr.remove();
      rows.delete(key);
      refreshEmpty();
    }, LIVE_ENDED_LINGER_MS);
  }
  function snapshot(calls) {
    for (const [, entry] of rows) clearTimeout(entry.removeTimer);
    rows.clear();
    tbody.replaceChildren();
    for (const c of calls) upsert(c);
    refreshEmpty();
  }

  // The running lengths tick once a second without a server event.
  const tick = setInterval(() => {
    for (const { tr, call } of rows.values()) {
      const cell = tr.querySelector('.length');
      if (cell && call && !tr.classList.contains('ended')) cell.textContent = elapsed(call.startedAt);
    }
  }, 1000);
  ctx.onLeave(() => clearInterval(tick));
  connectLive(ctx, status, { snapshot, upsert, ended });
  refreshEmpty();
}

function elapsed(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : fmtDur((Date.now() - t) / 1000);
}

function fillLiveRow(tr, call, canControl, upsert) {
  tr.dataset.state = call.state;
  tr.className = `state-${call.state}`;
  const cells = [
    td(h('span', { class: 'uri' }, call.from ?? '')),
    td(h('span', { class: 'uri' }, call.to ?? '')),
    h('td', { class: 'state' }, h('span', { class: `chip chip-state state-${call.state}` }, call.state)),
    td(fmtTime(call.startedAt)),
    h('td', { class: 'length' }, elapsed(call.startedAt)),
    td(call.recordingId ? h('a', { href: `#/recordings/${enc(call.recordingId)}` }, 'open') : ''),
  ];
  if (canControl) cells.push(td(liveControls(call, upsert)));
  tr.replaceChildren(...cells);
}

function liveControls(call, upsert) {
  const act = (action) => async (ev) => {
    ev.target.disabled = true;
    try {
      const updated = await api(`/api/live/${enc(call.key)}/${action}`, { method: 'POST' });
      if (updated?.key) upsert(updated);
    } catch (e) {
      notify(`Could not ${action} the recording: ${errorText(e)}`, 'error');
      ev.target.disabled = false;
    }
  };
  const recording = call.state === 'recording' || call.state === 'held';
  const paused = call.state === 'paused';
  return h('div', { class: 'btn-row' },
    button('Pause', act('pause'), { testid: 'live-pause', disabled: !recording }),
    button('Resume', act('resume'), { testid: 'live-resume', disabled: !paused }),
    button('Stop', act('stop'), { testid: 'live-stop', disabled: !(recording || paused) }),
    button('Start', act('start'), { testid: 'live-start', disabled: recording || paused }));
}

/**
 * EventSource reconnects by itself while the connection only dropped; it gives up (CLOSED) on an HTTP error,
 * which is how an expired session shows here: then ask /api/session, and reconnect ourselves otherwise.
 */
function connectLive(ctx, status, handlers) {
  let es = null;
  let retry = 0;
  const open = () => {
    if (!ctx.alive()) return;
    es = new EventSource('/api/live');
    es.addEventListener('open', () => (status.textContent = 'Live'));
    es.addEventListener('snapshot', (e) => handlers.snapshot(parse(e)?.calls ?? []));
    es.addEventListener('call', (e) => {
      const c = parse(e);
      if (c?.key) handlers.upsert(c);
    });
    es.addEventListener('ended', (e) => {
      const k = parse(e)?.key;
      if (k) handlers.ended(k);
    });
    es.addEventListener('error', async () => {
      if (es.readyState !== EventSource.CLOSED) {
        status.textContent = 'Reconnecting…';
        return;
      }
      status.textContent = 'Disconnected; retrying…';
      try {
        await api('/api/session');
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return sessionEnded(err.body?.oidc);
      }
      clearTimeout(retry);
      retry = setTimeout(open, 5000);
    });
  };
  const parse = (e) => {
    try {
      return JSON.parse(e.data);
    } catch {
      return null;
    }
  };
  open();
  ctx.onLeave(() => {
    clearTimeout(retry);
    es?.close();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Admin: recorded users

async function viewUsers(main, ctx) {
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Administration')), adminTabs('users'));
  const holder = h('div');
  main.append(holder);
  const load = async () => {
    const r = await api('/api/users');
    if (!ctx.alive()) return;
    holder.replaceChildren(usersTable(r, load));
  };
  await load();
}

function usersTable(r, reload) {
  const { tbody, wrap, table } = tableOf('users-table', ['URI', 'Name', 'Calls', 'Chats', 'Recorder', 'Endpoint IP', 'Learned IPs', '']);
  for (const u of r.items ?? []) tbody.append(userRow(u, (u.editable ?? r.editable) === true, reload));
  if (r.editable) table.append(h('tfoot', null, userRow(null, true, reload)));
  return h('section', null,
    r.editable ? null : h('p', { class: 'muted', testid: 'users-readonly' }, 'The recorded users come from the configuration and cannot be edited here.'),
    wrap);
}

/** One user as a row: inputs when editable, text otherwise; u null: the "add" row. */
function userRow(u, editable, reload) {
  const isNew = !u;
  u = u ?? { uri: '', name: '', call: true, chat: false, endpointIp: '0.0.0.0', learnedIps: [] };
  const data = { testid: isNew ? 'user-new' : 'user-row', data: { uri: u.uri } };
  if (!editable) {
    return h('tr', data, td(h('span', { class: 'uri' }, u.uri)), td(u.name ?? ''),
      td(h('input', { type: 'checkbox', checked: !!u.call, disabled: true, 'aria-label': 'calls' })),
      td(h('input', { type: 'checkbox', checked: !!u.chat, disabled: true, 'aria-label': 'chats' })),
      td(u.recorder ? String(u.recorder) : ''), td(u.endpointIp ?? ''), td((u.learnedIps ?? []).join(', ')), td(''));
  }
  const uri = h('input', { value: u.uri, testid: 'user-uri', 'aria-label': 'URI', placeholder: 'sip:alice@example.com', readonly: !isNew });
  const name = h('input', { value: u.name ?? '', testid: 'user-name', 'aria-label': 'Name' });
  const call = h('input', { type: 'checkbox', checked: !!u.call, testid: 'user-call', 'aria-label': 'Record calls' });
  const chat = h('input', { type: 'checkbox', checked: !!u.chat, testid: 'user-chat', 'aria-label': 'Record chats' });
  const recorder = select([['', 'any'], '1', '2', '3'], u.recorder ? String(u.recorder) : '', { testid: 'user-recorder', 'aria-label': 'Recorder' });
  const ip = h('input', { value: u.endpointIp ?? '', testid: 'user-ip', 'aria-label': 'Endpoint IP', placeholder: '0.0.0.0 = learn', size: 14 });
  const save = async () => {
    const body = { uri: uri.value.trim(), call: call.checked, chat: chat.checked, endpointIp: ip.value.trim() || '0.0.0.0' };
    if (name.value.trim()) body.name = name.value.trim();
    if (recorder.value) body.recorder = Number(recorder.value);
    if (!body.uri) return notify('A user needs a URI.', 'error');
    try {
      await api('/api/users', { method: 'PUT', body });
      notify(isNew ? 'User added.' : 'User saved.');
      await reload();
    } catch (e) {
      notify(`Could not save ${body.uri}: ${errorText(e)}`, 'error');
    }
  };
  const actions = isNew
    ? [button('Add', save, { testid: 'user-add', class: 'btn btn-primary' })]
    : [button('Save', save, { testid: 'user-save' }), confirmButton('Delete', async () => {
      try {
        await api(`/api/users?uri=${enc(u.uri)}`, { method: 'DELETE' });
        await reload();
      } catch (e) {
        notify(`Could not delete ${u.uri}: ${errorText(e)}`, 'error');
      }
    }, 'user-delete')];
  return h('tr', data, td(uri), td(name), td(call), td(chat), td(recorder), td(ip),
    td(h('span', { class: 'muted' }, (u.learnedIps ?? []).join(', '))), td(h('div', { class: 'btn-row' }, actions)));
}

/**
 * A delete button that asks again in place ("Really delete?") instead of window.confirm, which blocks the page
 * (and which automated browsers dismiss).
 */
function confirmButton(text, action, testid) {
  let armed = 0;
  const b = button(text, async () => {
    if (!armed) {
      b.textContent = 'Really delete?';
      b.classList.add('btn-danger');
      armed = setTimeout(() => {
        armed = 0;
        b.textContent = text;
        b.classList.remove('btn-danger');
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    b.disabled = true;
    await action();
    b.disabled = false;
    b.textContent = text;
    b.classList.remove('btn-danger');
  }, { testid, class: 'btn btn-quiet' });
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Admin: accounts

async function viewAccounts(main, ctx) {
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Administration')), adminTabs('accounts'));
  const holder = h('div');
  main.append(holder);
  const load = async () => {
    const r = await api('/api/accounts');
    if (!ctx.alive()) return;
    const items = Array.isArray(r) ? r : r?.items ?? [];
    holder.replaceChildren(accountsTable(items, load), accountForm(load));
  };
  await load();
}

function accountsTable(items, reload) {
  const { tbody, wrap } = tableOf('accounts-table', ['Username', 'Name', 'Role', 'URIs', 'Teams', '']);
  for (const a of items) tbody.append(accountRow(a, reload));
  if (items.length === 0) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No accounts.')));
  return wrap;
}

function accountRow(a, reload) {
  const tr = h('tr', { testid: 'account-row', data: { username: a.username } });
  const show = () => tr.replaceChildren(
    td(h('strong', null, a.username)), td(a.name ?? ''), td(h('span', { class: 'chip' }, a.role ?? '')),
    td((a.uris ?? []).map((u) => h('span', { class: 'uri block' }, u))), td(chips(a.teams)),
    td(h('div', { class: 'btn-row' }, button('Edit', edit, { testid: 'account-edit' }), confirmButton('Delete', async () => {
      try {
        await api(`/api/accounts/${enc(a.username)}`, { method: 'DELETE' });
        await reload();
      } catch (e) {
        notify(`Could not delete ${a.username}: ${errorText(e)}`, 'error');
      }
    }, 'account-delete'))));
  const edit = () => {
    const f = accountInputs(a);
    const save = async () => {
      const body = f.read();
      delete body.username;
      if (!body.password) delete body.password; // empty: keep the current password
      try {
        await api(`/api/accounts/${enc(a.username)}`, { method: 'PATCH', body });
        await reload();
      } catch (e) {
        notify(`Could not save ${a.username}: ${errorText(e)}`, 'error');
      }
    };
    tr.replaceChildren(td(h('strong', null, a.username)), td(f.name), td(f.role), td(f.uris), td(f.teams),
      td(h('div', { class: 'btn-row' }, f.password, button('Save', save, { testid: 'account-save', class: 'btn btn-primary' }), button('Cancel', show, { class: 'btn btn-quiet' }))));
  };
  show();
  return tr;
}

function accountInputs(a) {
  const username = h('input', { value: a?.username ?? '', testid: 'account-username', 'aria-label': 'Username', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', testid: 'account-password', 'aria-label': 'Password', autocomplete: 'new-password', placeholder: a ? 'new password (optional)' : '' });
  const name = h('input', { value: a?.name ?? '', testid: 'account-name', 'aria-label': 'Name' });
  const role = select(ROLES, a?.role ?? 'agent', { testid: 'account-role', 'aria-label': 'Role' });
  const uris = h('input', { value: (a?.uris ?? []).join(', '), testid: 'account-uris', 'aria-label': 'URIs, comma-separated', placeholder: 'sip:alice@example.com, …' });
  const teams = h('input', { value: (a?.teams ?? []).join(', '), testid: 'account-teams', 'aria-label': 'Teams, comma-separated' });
  const read = () => {
    const body = { username: username.value.trim(), role: role.value, uris: splitList(uris.value), teams: splitList(teams.value) };
    if (password.value) body.password = password.value;
    if (name.value.trim()) body.name = name.value.trim();
    return body;
  };
  return { username, password, name, role, uris, teams, read };
}

function accountForm(reload) {
  const f = accountInputs(null);
  f.password.required = true;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'account-add' }, 'Add account');
  const form = h('form', { class: 'card', testid: 'account-form' }, h('h2', null, 'New account'),
    h('div', { class: 'grid' }, field('Username', f.username), field('Password', f.password), field('Name', f.name),
      field('Role', f.role), field('URIs (comma-separated)', f.uris), field('Teams (comma-separated)', f.teams)),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('/api/accounts', { method: 'POST', body: f.read() });
      notify('Account added.');
      await reload();
    } catch (e) {
      notify(`Could not add the account: ${errorText(e)}`, 'error');
    }
  });
  return form;
}

// ---------------------------------------------------------------------------------------------------------------
// Admin: policy (read-only)

async function viewPolicy(main, ctx) {
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Administration')), adminTabs('policy'));
  const p = await api('/api/policy');
  if (!ctx.alive()) return;
  main.append(h('section', { class: 'card policy', testid: 'policy' }, h('h2', null, 'Recording policy'), valueView(p)));
}

/** Any JSON value as nested definition lists / lists / text. */
function valueView(v) {
  if (Array.isArray(v)) {
    if (v.length === 0) return h('span', { class: 'muted' }, 'none');
    return h('ul', { class: 'plain' }, v.map((x) => h('li', null, valueView(x))));
  }
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 0) return h('span', { class: 'muted' }, 'none');
    return h('dl', { class: 'kv' }, entries.map(([k, x]) => [h('dt', null, k), h('dd', null, valueView(x))]));
  }
  if (v === undefined || v === null || v === '') return h('span', { class: 'muted' }, '—');
  return h('span', null, String(v));
}

// ---------------------------------------------------------------------------------------------------------------
// Audit

async function viewAudit(main, ctx) {
  const { tbody, wrap } = tableOf('audit-table', ['#', 'Time', 'Actor', 'Action', 'Target', 'Detail', 'Address']);
  const pg = pager(ctx, {
    tbody,
    colspan: 7,
    emptyText: 'The audit log is empty.',
    fetchPage: (cursor) => api(`/api/audit?limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`),
    renderRow: (a) => h('tr', { testid: 'audit-row', data: { seq: a.seq } },
      td(String(a.seq ?? '')), td(fmtDate(a.at)), td(a.actor ?? ''), td(h('span', { class: 'chip' }, a.action ?? '')),
      td(h('span', { class: 'uri' }, a.target ?? '')),
      td(h('span', { class: 'detail' }, a.detail === undefined || a.detail === null ? '' : typeof a.detail === 'string' ? a.detail : JSON.stringify(a.detail))),
      td(a.ip ?? '')),
  });
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Audit log')), wrap, pg.info, pg.more);
  await pg.reload();
}

// ---------------------------------------------------------------------------------------------------------------
// Start

async function boot() {
  $('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', () => route());
  try {
    setSession(await api('/api/session'));
    route(); // an empty or unknown hash is replaced by the role's home, which routes again

  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      session.oidc = !!e.body?.oidc;
      // A refused single sign-on comes back here with its reason (the server's redirect): shown, then dropped.
      const refused = new URLSearchParams(location.search).get('sso_error');
      if (refused !== null) history.replaceState(null, '', location.pathname + location.hash);
      showLogin(refused ?? undefined);
    } else {
      $('main').replaceChildren(h('p', { class: 'error', testid: 'boot-error' }, `Tapline is not reachable: ${errorText(e)}`));
    }
  }
}

boot();
