// The provisioning QR code (Espressif v1 JSON: ver, name, pop, transport,
// security, username, password), with the same field rules as the CLI's
// --qrcode (internal/cli/params.go parseQR and securityFlags.build).

const TRANSPORTS = {
  softap: 'TRANSPORT_SOFTAP',
  httpd: 'TRANSPORT_HTTPD',
  ble: 'TRANSPORT_BLE',
  console: 'TRANSPORT_CONSOLE',
  'on-network': 'TRANSPORT_ON_NETWORK',
};

const SCHEMES = ['SECURITY_SCHEME_0', 'SECURITY_SCHEME_1', 'SECURITY_SCHEME_2'];

export class QRError extends Error {}

// parseTransport accepts a transport name case-insensitively, '_' for '-'.
export function parseTransport(s) {
  return TRANSPORTS[s.trim().toLowerCase().replaceAll('_', '-')];
}

// parseQR checks a scanned payload; the error says what is wrong without
// repeating the payload (it holds the PoP).
export function parseQR(text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch (_) {
    throw new QRError('not a provisioning QR code (invalid JSON): scan the unit\'s provisioning label');
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) {
    throw new QRError('not a provisioning QR code: expected an object such as {"ver":"v1","name":"PROV_fc9ea3","pop":"…","transport":"ble"}');
  }
  const q = {};
  for (const k of ['ver', 'name', 'pop', 'transport', 'username', 'password']) {
    const v = m[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new QRError(`QR code: "${k}" must be a string`);
    q[k] = v;
  }
  if (q.transport && !parseTransport(q.transport)) {
    throw new QRError(`QR code: unknown transport "${q.transport}" (use softap, ble, console, on-network or httpd)`);
  }
  const s = m.security;
  if (s !== undefined && s !== null) {
    let n = NaN;
    if (typeof s === 'number') n = s;
    else if (typeof s === 'string' && /^[+-]?[0-9]+$/.test(s)) n = parseInt(s, 10);
    else if (typeof s !== 'string') throw new QRError('QR code: security must be 0, 1 or 2');
    if (!Number.isInteger(n) || n < 0 || n > 2) {
      throw new QRError(`QR code: security must be 0, 1 or 2 (got ${JSON.stringify(s)})`);
    }
    q.security = n;
  }
  if (!q.name) throw new QRError('QR code without a device "name": the station needs it to find the unit');
  return q;
}

// schemeNumber is 0, 1, 2 for a SecurityScheme name, -1 for unspecified.
export function schemeNumber(name) {
  return SCHEMES.indexOf(name || '');
}

// security builds the request's Security from the label: the label's
// security, else its username (only Security 2 labels carry one), else the
// profile's scheme (defaultScheme, -1 for none) chooses the scheme; with
// Security 2 the SRP password is the PoP (RainMaker firmware). Empty
// fields are left out so that the profile fills them (e.g. the username).
export function security(q, defaultScheme) {
  let scheme = -1;
  if (q.security !== undefined) scheme = q.security;
  else if (q.username) scheme = 2;
  else if (defaultScheme >= 0) scheme = defaultScheme;
  const sec = {};
  if (scheme >= 0) sec.scheme = SCHEMES[scheme];
  const pop = q.pop || '';
  const user = q.username || '';
  const pass = scheme === 2 || user ? pop : '';
  const set = (k, v) => { if (v) sec[k] = v; };
  switch (scheme) {
    case 2: set('sec2Username', user); set('sec2Password', pass); break;
    case 1: set('pop', pop); break;
    case 0: break;
    default: set('pop', pop); if (user) { set('sec2Username', user); set('sec2Password', pass); }
  }
  return sec;
}
