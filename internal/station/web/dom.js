// h builds an element: h('p', {class: 'x', dataset: {unit: 'PROV_1'}}, 'text', child).
// Text is always set as text, never parsed as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

// s builds an SVG element with attributes.
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children.flat());
  return el;
}

// duration formats milliseconds as "4.2 s" or "3 min 05 s".
export function duration(ms) {
  if (!(ms >= 0)) return '';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  const m = Math.floor(ms / 60000);
  const sec = Math.round((ms % 60000) / 1000);
  return `${m} min ${String(sec).padStart(2, '0')} s`;
}

// shortState is "RUNNING" for "JOB_STATE_RUNNING".
export function shortState(st) {
  return (st || '').replace(/^JOB_STATE_/, '');
}
