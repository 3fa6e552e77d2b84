// The station console: sign-in, the station's profile, scan to provision,
// the live board (reattached after a reload), exceptions, the shift view.

import { ApiError, call, query, setToken, token } from './api.js';
import { parseQR, parseTransport, QRError, schemeNumber, security } from './qr.js';
import { Board, Card, unitOf } from './board.js';
import { Shift } from './shift.js';
import { h } from './dom.js';

const $ = (sel) => document.querySelector(sel);
const PROFILE_KEY = 'espprov.profile';
const POLL_MS = 3000;
const RECENT_MS = 15 * 60 * 1000;

const state = {
  profiles: [],
  profile: null,
  pollTimer: 0,
  started: false,
};

const board = new Board($('#board'));
const shift = new Shift($('#shift-view'), () => station(), (e) => problem(e));

const actions = {
  retry: (card) => retry(card),
  cancel: (card) => cancel(card),
  aside: (card) => askAside(card),
  dismiss: (card) => { board.remove(card); focusScan(); },
  authLost: (e) => signIn(e.message),
};

function station() {
  return (state.profile && state.profile.station) || '';
}

// say shows a message under the scan field (kind: info, error).
function say(text, kind = 'info') {
  const el = $('#scan-msg');
  el.textContent = text;
  el.className = kind;
}

function problem(e) {
  if (e instanceof ApiError && e.status === 'UNAUTHENTICATED') { signIn(e.message); return; }
  say(e.message || String(e), 'error');
}

function focusScan() {
  if (!$('#board-view').hidden && !$('#aside-dialog').open) $('#scan').focus();
}

// randomID is a request id: letters, digits and '-' only.
function randomID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return 'ui-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---- sign-in

function show(view) {
  for (const id of ['signin', 'board-view', 'shift-view']) $('#' + id).hidden = id !== view;
  $('#tab-board').setAttribute('aria-selected', String(view === 'board-view'));
  $('#tab-shift').setAttribute('aria-selected', String(view === 'shift-view'));
  $('nav').hidden = view === 'signin';
  $('#sign-out').hidden = view === 'signin' || !token();
}

function signIn(message) {
  stop();
  show('signin');
  $('#signin-error').textContent = message || '';
  $('#token').value = '';
  $('#token').focus();
}

function stop() {
  clearInterval(state.pollTimer);
  state.pollTimer = 0;
  state.started = false;
  board.clear();
}

// probe checks that the API answers this page (with the token, if any).
async function probe() {
  await call('GET', '/v1/jobs' + query({ pageSize: 1 }));
}

async function submitToken() {
  const t = $('#token').value.trim();
  if (!t) { $('#signin-error').textContent = 'Enter the station token.'; return; }
  setToken(t);
  try {
    await probe();
  } catch (e) {
    setToken('');
    $('#signin-error').textContent = e instanceof ApiError && e.status === 'UNAUTHENTICATED'
      ? 'Token refused: check it and try again.'
      : 'Not signed in: ' + e.message;
    $('#token').select();
    return;
  }
  start();
}

// ---- profiles

async function loadProfiles() {
  try {
    const r = await call('GET', '/v1/profiles');
    state.profiles = r.profiles || [];
  } catch (e) {
    if (e instanceof ApiError && e.status === 'UNAUTHENTICATED') throw e;
    state.profiles = [];
    say('Profiles not available: ' + e.message, 'error');
  }
  const sel = $('#profile');
  const want = localStorage.getItem(PROFILE_KEY);
  sel.replaceChildren(h('option', { value: '' }, state.profiles.length ? '— choose the station profile —' : '— no profiles on the server —'),
    ...state.profiles.map((p) => h('option', { value: p.name }, p.name)));
  const pick = state.profiles.find((p) => p.name === want) || (state.profiles.length === 1 ? state.profiles[0] : null);
  sel.value = pick ? pick.name : '';
  setProfile(pick);
}

function setProfile(p) {
  state.profile = p || null;
  if (p) localStorage.setItem(PROFILE_KEY, p.name);
  const info = $('#profile-info');
  if (!p) { info.replaceChildren(h('span', {}, 'No profile: scanning is off.')); return; }
  let net = 'no network';
  if (p.network === 'NETWORK_TYPE_THREAD') net = `Thread ${p.threadNetworkName || ''} · dataset: ${p.datasetSet ? 'set' : 'not set'}`;
  else if (p.network === 'NETWORK_TYPE_WIFI' || p.wifiSsid) net = `Wi-Fi ${p.wifiSsid || '?'} · passphrase: ${p.passphraseSet ? 'set' : 'not set'}`;
  const bits = [
    (p.transport || '').replace(/^TRANSPORT_/, '').toLowerCase(),
    net,
    'RainMaker: ' + (p.mappingEnabled ? 'on' + (p.cloud ? ' (' + p.cloud + ')' : '') : 'off'),
    p.workOrder ? 'WO ' + p.workOrder : '',
    p.station ? 'station ' + p.station : '',
  ].filter(Boolean);
  info.replaceChildren(...bits.map((b) => h('span', {}, b)));
}

// ---- scan to provision

function scanned(text) {
  text = text.trim();
  if (!text) return;
  let q;
  try {
    q = parseQR(text);
  } catch (e) {
    if (e instanceof QRError) { say(e.message, 'error'); return; }
    throw e;
  }
  if (!state.profile) { say('Choose the station profile first.', 'error'); $('#profile').focus(); return; }
  const old = board.byUnit(q.name);
  if (old && !old.final) { say(`${q.name} is already provisioning.`, 'error'); return; }
  const p = state.profile;
  const device = { name: q.name };
  if (!p.transport || p.transport === 'TRANSPORT_UNSPECIFIED') {
    if (q.transport) device.transport = parseTransport(q.transport);
  }
  const req = {
    profile: p.name,
    requestId: randomID(),
    device,
    security: security(q, schemeNumber(p.securityScheme)),
  };
  const card = new Card(q.name, actions);
  if (old) board.replace(old, card); else board.add(card);
  card.start(req);
  say(`${q.name}: started.`);
}

// retry starts a new job for the unit with the request kept in page
// memory (a new request id: the failed job's id would attach to it); after
// a reload the secrets are gone and the label must be scanned again.
function retry(card) {
  if (!card.request) {
    say(`Scan the label of ${card.unit} again to retry.`, 'info');
    focusScan();
    return;
  }
  const req = { ...card.request, requestId: randomID() };
  const n = new Card(card.unit, actions);
  board.replace(card, n);
  n.start(req);
  focusScan();
}

async function cancel(card) {
  if (!card.jobId) return;
  try {
    card.job(await call('POST', `/v1/jobs/${encodeURIComponent(card.jobId)}:cancel`, {}));
    say(`${card.unit}: cancel requested.`);
  } catch (e) {
    problem(e);
  }
  focusScan();
}

// ---- set aside

let asideCard = null;

function askAside(card) {
  asideCard = card;
  $('#aside-unit').textContent = card.unit;
  $('#aside-reason').value = '';
  $('#aside-error').textContent = '';
  $('#aside-dialog').showModal();
  $('#aside-reason').focus();
}

async function setAside(reason) {
  const card = asideCard;
  reason = reason.trim();
  if (!card) return;
  if (!reason) { $('#aside-error').textContent = 'Choose or type a reason.'; return; }
  try {
    const j = await call('POST', `/v1/jobs/${encodeURIComponent(card.jobId)}:updateLabels`,
      { labels: { set_aside: 'true', set_aside_reason: reason } });
    card.job(j);
  } catch (e) {
    $('#aside-error').textContent = e.message;
    return;
  }
  $('#aside-dialog').close();
  asideCard = null;
  say(`${card.unit} set aside: ${reason}.`);
  focusScan();
}

// ---- reattach: jobs of this station that are queued or running

async function poll() {
  let r;
  try {
    r = await call('GET', '/v1/jobs' + query({
      station: station(), states: ['JOB_STATE_QUEUED', 'JOB_STATE_RUNNING'], pageSize: 100,
    }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 'UNAUTHENTICATED') signIn(e.message);
    return;
  }
  for (const j of (r.jobs || []).reverse()) {
    if (board.byJob(j.jobId) || board.byRequest(j.requestId)) continue;
    const unit = unitOf(j);
    const card = new Card(unit, actions);
    const old = board.byUnit(unit);
    if (old && old.final) board.replace(old, card); else board.add(card);
    card.attach(j);
  }
}

// restore shows the station's jobs that ended in the last minutes (one
// card per unit, its latest job), so that a reload keeps the recent
// results; their retry asks for the label again.
async function restore() {
  let r;
  try {
    r = await call('GET', '/v1/jobs' + query({
      station: station(), createdAfter: new Date(Date.now() - RECENT_MS).toISOString(), pageSize: 12,
    }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 'UNAUTHENTICATED') throw e;
    return;
  }
  const seen = new Set();
  const latest = [];
  for (const j of r.jobs || []) {
    const unit = unitOf(j);
    if (seen.has(unit)) continue;
    seen.add(unit);
    latest.push(j);
  }
  for (const j of latest.reverse()) {
    const st = (j.state || '').replace(/^JOB_STATE_/, '');
    if (st === 'QUEUED' || st === 'RUNNING' || board.byJob(j.jobId)) continue;
    const card = new Card(unitOf(j), actions);
    card.job(j);
    board.add(card);
  }
}

// ---- start

async function start() {
  show('board-view');
  try {
    await loadProfiles();
  } catch (e) {
    signIn(e.message);
    return;
  }
  state.started = true;
  try {
    await restore();
  } catch (e) {
    signIn(e.message);
    return;
  }
  await poll();
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(poll, POLL_MS);
  document.body.dataset.ready = 'true';
  focusScan();
}

async function boot() {
  try {
    await probe();
  } catch (e) {
    if (e instanceof ApiError && (e.status === 'UNAUTHENTICATED' || e.status === 'PERMISSION_DENIED')) {
      signIn(token() ? 'Your token was refused: sign in again.' : '');
      if (e.status === 'PERMISSION_DENIED') $('#signin-error').textContent = e.message;
      return;
    }
    show('board-view');
    say('espprovd does not answer: ' + e.message, 'error');
    return;
  }
  start();
}

// ---- wiring

$('#scan').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  const v = e.target.value;
  e.target.value = '';
  scanned(v);
});
$('#token').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); submitToken(); } });
$('#signin-button').addEventListener('click', submitToken);
$('#sign-out').addEventListener('click', () => { setToken(''); signIn('Signed out.'); });
$('#profile').addEventListener('change', (e) => {
  setProfile(state.profiles.find((p) => p.name === e.target.value));
  board.clear();
  poll();
  focusScan();
});
$('#tab-board').addEventListener('click', () => { show('board-view'); focusScan(); });
$('#tab-shift').addEventListener('click', () => { show('shift-view'); shift.load(); });
for (const b of document.querySelectorAll('#aside-dialog .reason')) {
  b.addEventListener('click', () => setAside(b.textContent));
}
$('#aside-ok').addEventListener('click', () => setAside($('#aside-reason').value));
$('#aside-reason').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); setAside(e.target.value); } });
$('#aside-cancel').addEventListener('click', () => { $('#aside-dialog').close(); focusScan(); });
$('#aside-dialog').addEventListener('close', () => { asideCard = null; focusScan(); });

// A scanner types wherever the focus is: keys typed outside a field go to
// the scan field.
document.addEventListener('keydown', (e) => {
  const t = e.target;
  if ($('#board-view').hidden || $('#aside-dialog').open) return;
  if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement) return;
  if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) $('#scan').focus();
});

boot();
