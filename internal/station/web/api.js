// The REST API client: JSON calls, NDJSON streams read with fetch +
// ReadableStream, file downloads. The bearer token lives in session
// storage (this tab only, gone when the tab closes) and nowhere else.

const TOKEN_KEY = 'espprov.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// ApiError is a REST error: status is the gRPC status name
// ("UNAUTHENTICATED", "ABORTED", …), http the HTTP status (0: a line of a
// stream, or no answer at all).
export class ApiError extends Error {
  constructor(status, message, http) {
    super(message);
    this.status = status;
    this.http = http;
  }
}

function headers(json) {
  const h = { Accept: 'application/json' };
  if (json) h['Content-Type'] = 'application/json';
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

function init(method, body, signal) {
  return {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    signal,
  };
}

async function failure(res) {
  let e = {};
  try {
    const b = await res.json();
    e = (b && b.error) || {};
  } catch (_) { /* not JSON */ }
  return new ApiError(e.status || 'HTTP_' + res.status, e.message || res.status + ' ' + res.statusText, res.status);
}

// call sends one JSON request and returns the decoded answer.
export async function call(method, path, body) {
  const res = await fetch(path, init(method, body));
  if (!res.ok) throw await failure(res);
  return res.json();
}

// stream reads a server-streaming call: onEvent gets each result object
// in order; it resolves when the stream ends and rejects with ApiError on
// an error line (or an HTTP error), or with the fetch's TypeError when the
// connection breaks.
export async function stream(method, path, body, onEvent, signal) {
  const res = await fetch(path, init(method, body, signal));
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const line = (s) => {
    s = s.trim();
    if (!s) return;
    const m = JSON.parse(s);
    if (m.error) throw new ApiError(m.error.status || 'UNKNOWN', m.error.message || 'stream failed', 0);
    if (m.result) onEvent(m.result);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const s = buf.slice(0, i);
      buf = buf.slice(i + 1);
      line(s);
    }
    if (done) break;
  }
  line(buf + dec.decode());
}

// download fetches a file with the bearer header and hands it to the
// browser as a download named filename.
export async function download(path, filename) {
  const res = await fetch(path, init('GET'));
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// query builds "?k=v&k=v2" from an object whose values are strings or
// arrays (repeated parameters); empty values are left out.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x !== undefined && x !== null && x !== '') q.append(k, String(x));
    }
  }
  const s = q.toString();
  return s ? '?' + s : '';
}
