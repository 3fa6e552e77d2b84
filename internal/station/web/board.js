// The live board: one card per unit, fed by the Provision or WatchJob
// stream of its job, ending in a large green or red result.

import { ApiError, call, stream, query } from './api.js';
import { classify, LINES, TITLES } from './failures.js';
import { h, duration, shortState } from './dom.js';

const STEP_NAMES = {
  STEP_QUEUED: 'Queued',
  STEP_CONNECTING: 'Connect',
  STEP_SECURITY_DETECTED: 'Security',
  STEP_SESSION_ESTABLISHED: 'Session',
  STEP_MAPPING: 'RainMaker',
  STEP_CUSTOM_DATA: 'Data',
  STEP_REPROVISIONED: 'Reprovision',
  STEP_CREDENTIALS_SENT: 'Credentials',
  STEP_CONFIG_APPLIED: 'Applied',
  STEP_WIFI_STATE: 'Wi-Fi',
  STEP_THREAD_STATE: 'Thread',
  STEP_DEVICE_RESET: 'Reset',
};

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'interrupted', 'refused']);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let nextKey = 1;

// Card is one unit's job on the board.
export class Card {
  // actions: {retry(card), cancel(card), aside(card), dismiss(card), authLost(err)}
  constructor(unit, actions) {
    this.key = 'c' + nextKey++;
    this.unit = unit;
    this.actions = actions;
    this.jobId = '';
    this.requestId = '';
    this.seq = 0;
    this.state = 'starting';
    this.steps = [];
    this.message = '';
    this.result = null;
    this.error = null;
    this.failureClass = '';
    this.t0 = 0;
    this.t1 = 0;
    this.request = null; // the request with its secrets: page memory only
    this.labels = {};
    this.nodeId = '';
    this.cancelRequested = false;
    this.updated = 0; // the job record's update time last applied
    this.recorded = false; // the job's record says it has ended
    this.abort = new AbortController();
    this.el = h('article', { class: 'card', dataset: { key: this.key } });
    this.render();
  }

  get final() {
    return FINAL.has(this.state);
  }

  // start provisions with request (it keeps the secrets for a retry).
  start(request) {
    this.request = request;
    this.requestId = request.requestId;
    this.run(() => stream('POST', '/v1/devices:provision', request, (ev) => this.event(ev), this.abort.signal));
  }

  // attach follows an existing job from its first event.
  attach(job) {
    this.job(job);
    this.run(() => this.watchStream());
  }

  watchStream() {
    return stream('GET', `/v1/jobs/${encodeURIComponent(this.jobId)}:watch${query({ afterSequence: this.seq })}`,
      undefined, (ev) => this.event(ev), this.abort.signal);
  }

  // run reads the job's stream to its end, follows it again after a broken
  // connection (from the last sequence seen), then reads the job's record.
  async run(first) {
    let attempt = first;
    for (let tries = 0; ; tries++) {
      try {
        await attempt();
      } catch (e) {
        if (e.name === 'AbortError') return;
        if (e instanceof ApiError) {
          if (e.status === 'UNAUTHENTICATED') { this.actions.authLost(e); return; }
          if (!this.jobId) { this.refused(e); return; }
          // The job's own failure (the stream's last line).
          this.error = { status: e.status, message: e.message };
        } else if (tries < 60) {
          // The connection broke: find the job and follow it again.
          this.message = 'connection lost, following the job again…';
          this.render();
          await sleep(Math.min(500 * (tries + 1), 3000));
          if (!this.jobId && !(await this.findByRequest())) continue;
          attempt = () => this.watchStream();
          continue;
        } else {
          this.refused(new ApiError('UNAVAILABLE', 'lost the connection to espprovd: ' + e.message, 0));
          return;
        }
      }
      if (!this.jobId) return;
      try {
        this.job(await call('GET', `/v1/jobs/${encodeURIComponent(this.jobId)}`));
      } catch (e) {
        if (e instanceof ApiError && e.status === 'UNAUTHENTICATED') { this.actions.authLost(e); return; }
      }
      if (this.final || tries >= 60) return;
      attempt = () => this.watchStream();
    }
  }

  // findByRequest finds the job a Provision started when the connection
  // broke before its first event.
  async findByRequest() {
    if (!this.requestId) return false;
    try {
      const r = await call('GET', '/v1/jobs' + query({ requestId: this.requestId, pageSize: 1 }));
      const j = (r.jobs || [])[0];
      if (j) { this.jobId = j.jobId; return true; }
    } catch (_) { /* try again later */ }
    return false;
  }

  // event applies one progress event.
  event(ev) {
    if (ev.jobId) this.jobId = ev.jobId;
    if (ev.sequence) this.seq = Math.max(this.seq, Number(ev.sequence));
    const t = ev.time ? Date.parse(ev.time) : Date.now();
    if (!this.t0) this.t0 = t;
    if (ev.jobState) this.state = shortState(ev.jobState).toLowerCase();
    if (ev.step === 'STEP_RESULT') {
      this.t1 = t;
      this.result = ev.result || {};
      this.state = this.result.success ? 'succeeded' : (this.state === 'cancelled' ? 'cancelled' : 'failed');
    } else if (ev.step && STEP_NAMES[ev.step] && !this.steps.includes(ev.step)) {
      this.steps.push(ev.step);
      if (this.state === 'starting') this.state = ev.step === 'STEP_QUEUED' ? 'queued' : 'running';
    }
    if (ev.message) this.message = ev.message;
    this.render();
  }

  // job applies the job's record (GetJob, ListJobs).
  job(j) {
    // Answers may cross (a GetJob read before a label change, answered
    // after it): an older record than the last one applied is ignored.
    const upd = j.updateTime ? Date.parse(j.updateTime) : 0;
    if (upd && upd < this.updated) return;
    this.updated = Math.max(this.updated, upd);
    this.jobId = j.jobId || this.jobId;
    this.requestId = j.requestId || this.requestId;
    const st = shortState(j.state).toLowerCase();
    if (st) this.state = st;
    this.recorded = FINAL.has(st);
    if (j.result) this.result = j.result;
    if (j.error) this.error = { status: j.error.code, message: j.error.message, failureClass: j.error.failureClass };
    this.labels = j.labels || {};
    if (j.cancelRequested) this.cancelRequested = true;
    if (j.device && j.device.nodeId) this.nodeId = j.device.nodeId;
    const start = j.startTime || j.createTime;
    if (start && !this.t0) this.t0 = Date.parse(start);
    if (j.endTime) this.t1 = Date.parse(j.endTime);
    if (!this.unit) this.unit = unitOf(j);
    for (const s of j.steps || []) {
      if (STEP_NAMES[s.step] && !this.steps.includes(s.step)) this.steps.push(s.step);
    }
    this.render();
  }

  // refused: the server refused the call before a job existed (a busy
  // device, a bad request, a missing scope).
  refused(e) {
    this.state = 'refused';
    this.error = { status: e.status, message: e.message };
    this.render();
  }

  stop() {
    this.abort.abort();
  }

  render() {
    const el = this.el;
    const failed = this.state === 'failed' || this.state === 'refused' || this.state === 'interrupted';
    el.className = 'card ' + (this.state === 'succeeded' ? 'ok' : failed ? 'bad' : this.state === 'cancelled' ? 'cancelled' : 'busy');
    el.dataset.unit = this.unit;
    el.dataset.state = this.state;
    el.dataset.job = this.jobId;
    let verdict;
    let line = '';
    let detail = '';
    this.failureClass = '';
    if (this.state === 'succeeded') {
      verdict = 'PASS';
      const r = this.result || {};
      const node = r.nodeId || this.nodeId;
      line = node ? 'node ' + node : 'provisioned';
      detail = [r.ip4Address ? 'IP ' + r.ip4Address : '', duration(this.t1 - this.t0)].filter(Boolean).join(' · ');
    } else if (failed || this.state === 'cancelled') {
      this.failureClass = this.state === 'cancelled' ? 'CANCELLED'
        : classify({ result: this.result, error: this.error, status: this.error && this.error.status });
      verdict = this.state === 'cancelled' ? 'CANCELLED' : 'FAIL';
      line = LINES[this.failureClass];
      detail = (this.error && this.error.message) || (this.result && this.result.error) || '';
      if (this.state === 'interrupted') detail = 'espprovd stopped while this job ran. ' + detail;
    } else {
      verdict = this.state === 'queued' ? 'WAITING' : 'WORKING';
      line = this.cancelRequested ? 'Cancel requested: stops at the next step' : this.message;
    }
    el.dataset.class = this.failureClass;
    el.dataset.cancel = this.cancelRequested ? 'requested' : '';
    const aside = this.labels.set_aside === 'true';
    const act = (name, label, extra = {}) => h('button', { type: 'button', class: 'act ' + name, dataset: { act: name }, onclick: () => this.actions[name](this), ...extra }, label);
    const buttons = [];
    if (!this.final) buttons.push(act('cancel', 'Cancel', { disabled: !this.jobId || this.cancelRequested }));
    if (this.final && this.state !== 'succeeded') {
      buttons.push(act('retry', this.request ? 'Retry' : 'Rescan to retry'));
    }
    // Labels go on the ended record (the runner owns it while it runs).
    if (this.recorded && this.state !== 'succeeded' && !aside) buttons.push(act('aside', 'Set aside'));
    if (this.final) buttons.push(act('dismiss', 'Clear'));
    el.replaceChildren(...[
      h('header', {},
        h('span', { class: 'unit' }, this.unit || '(unknown unit)'),
        h('span', { class: 'jobid', title: this.jobId }, this.jobId ? '…' + this.jobId.slice(-6) : '')),
      h('div', { class: 'verdict' }, verdict),
      this.failureClass && this.failureClass !== 'CANCELLED' ? h('p', { class: 'fclass' }, TITLES[this.failureClass]) : null,
      h('p', { class: 'line' }, line || '\u00a0'),
      detail ? h('p', { class: 'detail' }, detail) : null,
      aside ? h('p', { class: 'aside-note' }, 'SET ASIDE: ' + (this.labels.set_aside_reason || '')) : null,
      h('ol', { class: 'steps' }, this.steps.map((st, i) => h('li', {
        class: i === this.steps.length - 1 && !this.final ? 'now' : 'done',
      }, STEP_NAMES[st]))),
      buttons.length ? h('div', { class: 'actions' }, buttons) : null,
    ].filter(Boolean));
  }
}

// unitOf names a job's unit: the device name, else the serial number, else
// the address.
export function unitOf(j) {
  const d = j.device || {};
  const rd = (j.request && j.request.device) || {};
  return d.name || rd.name || j.serialNumber || d.address || rd.address || j.jobId;
}

// Board holds the cards, newest first, at most max of them.
export class Board {
  constructor(el, max = 30) {
    this.el = el;
    this.max = max;
    this.cards = [];
  }

  add(card) {
    this.cards.unshift(card);
    this.el.prepend(card.el);
    while (this.cards.length > this.max) {
      const i = this.cards.findLastIndex((c) => c.final);
      if (i < 0) break;
      this.remove(this.cards[i]);
    }
  }

  // replace puts card where old was.
  replace(old, card) {
    const i = this.cards.indexOf(old);
    if (i < 0) { this.add(card); return; }
    old.stop();
    this.cards[i] = card;
    old.el.replaceWith(card.el);
  }

  remove(card) {
    card.stop();
    this.cards = this.cards.filter((c) => c !== card);
    card.el.remove();
  }

  clear() {
    for (const c of this.cards) c.stop();
    this.cards = [];
    this.el.replaceChildren();
  }

  byJob(id) { return this.cards.find((c) => c.jobId === id); }
  byRequest(id) { return id ? this.cards.find((c) => c.requestId === id) : undefined; }
  byUnit(unit) { return this.cards.find((c) => c.unit === unit); }
}
