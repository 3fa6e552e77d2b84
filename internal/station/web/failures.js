// Failure classes (FailureClass on Result and JobError) and the one line an
// operator reads for each.

export const LINES = {
  WRONG_POP: 'Wrong PoP: check the label, then rescan it',
  WIFI_AUTH: 'Wi-Fi refused the passphrase: call the line engineer (station profile)',
  NETWORK_NOT_FOUND: 'Wi-Fi not found: check the AP',
  DEVICE_UNREACHABLE: 'Device not found: check it is powered and seated, then retry',
  DEVICE_STOPPED_ANSWERING: 'Device stopped answering: reseat the unit and retry',
  DEVICE_BUSY: 'This unit already has a job running: wait for it or cancel it',
  PROTOCOL: 'Device does not speak the expected protocol: set the unit aside',
  CLOUD: 'RainMaker cloud error: retry; if it repeats, call the line engineer',
  CANCELLED: 'Cancelled by the operator',
  DEADLINE: 'Took too long: reseat the unit and retry',
  OTHER: 'Failed: set the unit aside and call the line engineer',
};

export const TITLES = {
  WRONG_POP: 'Wrong PoP',
  WIFI_AUTH: 'Wi-Fi passphrase',
  NETWORK_NOT_FOUND: 'Wi-Fi not found',
  DEVICE_UNREACHABLE: 'Device not found',
  DEVICE_STOPPED_ANSWERING: 'Stopped answering',
  DEVICE_BUSY: 'Unit busy',
  PROTOCOL: 'Protocol',
  CLOUD: 'Cloud',
  CANCELLED: 'Cancelled',
  DEADLINE: 'Too slow',
  OTHER: 'Other',
};

const PREFIX = 'FAILURE_CLASS_';

// normalize turns "FAILURE_CLASS_WRONG_POP" into "WRONG_POP"; unknown or
// unspecified values are "".
function normalize(c) {
  if (!c) return '';
  c = String(c);
  if (c.startsWith(PREFIX)) c = c.slice(PREFIX.length);
  return c in LINES ? c : '';
}

// classify finds the class of a failure from what the server said: the
// class itself when present (failureClass on the result or the job's
// error), else a guess from the Wi-Fi reason and the gRPC status, for
// servers that predate the field and for refusals before a job exists.
export function classify({ result, error, status } = {}) {
  const c = normalize(result && result.failureClass) || normalize(error && error.failureClass);
  if (c) return c;
  switch (result && result.failReason) {
    case 'WIFI_FAIL_REASON_AUTH_ERROR': return 'WIFI_AUTH';
    case 'WIFI_FAIL_REASON_NETWORK_NOT_FOUND': return 'NETWORK_NOT_FOUND';
  }
  const code = status || (error && error.code) || '';
  switch (code.replace(/[^A-Za-z]/g, '').toUpperCase()) {
    case 'ABORTED': return 'DEVICE_BUSY';
    case 'CANCELLED': case 'CANCELED': return 'CANCELLED';
    case 'DEADLINEEXCEEDED': return 'DEADLINE';
    case 'UNAVAILABLE': return 'DEVICE_UNREACHABLE';
  }
  return 'OTHER';
}
