// The shift view: today's jobs (filters: state, work order, this station),
// the yield, units per hour and failures by class as inline SVG, the list,
// and the CSV export (ExportJobs with the same filters).

import { call, download, query } from './api.js';
import { classify, TITLES } from './failures.js';
import { h, s, duration, shortState } from './dom.js';
import { unitOf } from './board.js';

const PAGE = 1000;
const MAX_PAGES = 20;

// midnight is the start of the local day, as RFC 3339.
export function midnight(now = new Date()) {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

// filters returns the ListJobs/ExportJobs filter of the form.
function filters(form, station) {
  return {
    createdAfter: midnight(),
    states: form.state.value ? [form.state.value] : [],
    workOrder: form.workOrder.value.trim(),
    station: form.mine.checked ? station : '',
  };
}

async function loadJobs(f) {
  const jobs = [];
  let pageToken = '';
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await call('GET', '/v1/jobs' + query({ ...f, pageSize: PAGE, pageToken }));
    jobs.push(...(r.jobs || []));
    pageToken = r.nextPageToken || '';
    if (!pageToken) break;
  }
  return jobs;
}

// summarize computes the figures of a list of jobs (newest first): per
// unit its last job decides; yield is units that ended provisioned over
// units that ended (succeeded or failed, not running or cancelled); first
// pass yield counts units whose first job succeeded.
export function summarize(jobs) {
  const units = new Map(); // unit -> jobs oldest first
  for (const j of [...jobs].reverse()) {
    const u = unitOf(j);
    if (!units.has(u)) units.set(u, []);
    units.get(u).push(j);
  }
  let ok = 0; let bad = 0; let firstOK = 0; let aside = 0;
  for (const js of units.values()) {
    const last = js[js.length - 1];
    const st = shortState(last.state);
    if (st === 'SUCCEEDED') ok++;
    else if (st === 'FAILED' || st === 'INTERRUPTED') bad++;
    if (shortState(js[0].state) === 'SUCCEEDED') firstOK++;
    if ((last.labels || {}).set_aside === 'true') aside++;
  }
  const perHour = new Array(24).fill(0);
  const classes = {};
  for (const j of jobs) {
    const st = shortState(j.state);
    if (st === 'SUCCEEDED' && j.endTime) perHour[new Date(j.endTime).getHours()]++;
    if (st === 'FAILED' || st === 'INTERRUPTED') {
      const c = classify({ result: j.result, error: j.error });
      classes[c] = (classes[c] || 0) + 1;
    }
  }
  return { jobs: jobs.length, units: units.size, ok, bad, firstOK, aside, perHour, classes,
    yield: ok + bad ? ok / (ok + bad) : null };
}

const pct = (x) => (x === null ? '–' : (100 * x).toFixed(1) + ' %');

// hourChart draws units per hour for the eight hours up to now (earlier
// when work started earlier today).
function hourChart(perHour, nowHour) {
  const worked = perHour.findIndex((n) => n > 0);
  const first = Math.max(0, Math.min(nowHour - 7, worked >= 0 ? worked : nowHour));
  const hours = [];
  for (let i = first; i <= nowHour; i++) hours.push(i);
  const max = Math.max(1, ...hours.map((i) => perHour[i]));
  const W = 560; const H = 150; const top = 30; const bw = (W - 20) / hours.length;
  return s('svg', { class: 'chart', viewBox: `0 0 ${W} ${top + H + 30}`, role: 'img', 'aria-label': 'units provisioned per hour' },
    hours.map((hr, k) => {
      const bh = (perHour[hr] / max) * H;
      const x = 10 + k * bw;
      return s('g', { 'data-hour': hr },
        s('rect', { class: 'bar ok', x: x + 4, y: top + H - bh, width: bw - 8, height: Math.max(bh, 1) }),
        s('text', { x: x + bw / 2, y: top + H + 24, 'text-anchor': 'middle', class: 'axis' }, String(hr).padStart(2, '0') + ':00'),
        perHour[hr] ? s('text', { x: x + bw / 2, y: top + H - bh - 6, 'text-anchor': 'middle', class: 'val' }, String(perHour[hr])) : []);
    }));
}

// classChart draws failures by class as horizontal bars.
function classChart(classes) {
  const rows = Object.entries(classes).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return h('p', { class: 'none' }, 'No failures today.');
  const max = Math.max(...rows.map((r) => r[1]));
  const W = 560; const rh = 36;
  return s('svg', { class: 'chart', viewBox: `0 0 ${W} ${rows.length * rh + 8}`, role: 'img', 'aria-label': 'failures by class' },
    rows.map(([c, n], i) => {
      const bw = (n / max) * (W - 260);
      return s('g', { 'data-class': c },
        s('text', { x: 0, y: i * rh + 26, class: 'lab' }, TITLES[c] || c),
        s('rect', { class: 'bar bad', x: 210, y: i * rh + 6, width: Math.max(bw, 2), height: rh - 10 }),
        s('text', { x: 216 + bw, y: i * rh + 26, class: 'val' }, String(n)));
    }));
}

// Shift renders the view into root; station() names this station.
export class Shift {
  constructor(root, station, onError) {
    this.root = root;
    this.station = station;
    this.onError = onError;
    const form = root.querySelector('#shift-form');
    this.form = form;
    form.addEventListener('change', () => this.load());
    form.addEventListener('submit', (e) => { e.preventDefault(); this.load(); });
    root.querySelector('#export').addEventListener('click', () => this.export());
  }

  async load() {
    const out = this.root.querySelector('#shift-out');
    let jobs;
    try {
      jobs = await loadJobs(filters(this.form, this.station()));
    } catch (e) {
      this.onError(e);
      return;
    }
    const sum = summarize(jobs);
    const fig = (label, value, cls, id) => h('div', { class: 'fig ' + (cls || ''), id }, h('span', { class: 'v' }, value), h('span', { class: 'l' }, label));
    out.replaceChildren(
      h('div', { class: 'figs' },
        fig('yield', pct(sum.yield), 'big', 'yield'),
        fig('units', String(sum.units), '', 'units'),
        fig('provisioned', String(sum.ok), 'ok', 'units-ok'),
        fig('failed', String(sum.bad), 'bad', 'units-bad'),
        fig('first pass', pct(sum.units ? sum.firstOK / sum.units : null)),
        fig('set aside', String(sum.aside))),
      h('div', { class: 'charts' },
        h('figure', {}, h('figcaption', {}, 'Units per hour'), hourChart(sum.perHour, new Date().getHours())),
        h('figure', { id: 'by-class' }, h('figcaption', {}, 'Failures by class'), classChart(sum.classes))),
      h('table', { class: 'jobs' },
        h('thead', {}, h('tr', {}, ['Time', 'Unit', 'State', 'Result', 'Duration', 'Work order'].map((c) => h('th', {}, c)))),
        h('tbody', {}, jobs.slice(0, 200).map((j) => this.row(j)))),
    );
  }

  row(j) {
    const st = shortState(j.state);
    const t = new Date(j.createTime);
    let res = '';
    if (st === 'SUCCEEDED') res = (j.result && (j.result.nodeId || j.result.ip4Address)) || '';
    else if (st === 'FAILED' || st === 'INTERRUPTED') res = TITLES[classify({ result: j.result, error: j.error })];
    if ((j.labels || {}).set_aside === 'true') res += ' · set aside: ' + (j.labels.set_aside_reason || '');
    const d = j.endTime && j.startTime ? duration(Date.parse(j.endTime) - Date.parse(j.startTime)) : '';
    return h('tr', { class: st.toLowerCase() },
      h('td', {}, t.toLocaleTimeString()), h('td', {}, unitOf(j)), h('td', { class: 'st' }, st),
      h('td', {}, res), h('td', {}, d), h('td', {}, j.workOrder || ''));
  }

  async export() {
    const f = filters(this.form, this.station());
    try {
      await download('/v1/jobs:export' + query({ ...f, format: 'csv' }), `espprov-jobs-${new Date().toISOString().slice(0, 10)}.csv`);
    } catch (e) {
      this.onError(e);
    }
  }
}
