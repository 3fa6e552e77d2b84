// EspprovError: a failed espprov call, classified like the espprov CLI's exit
// codes (README: exit codes, status codes).
import { Code, ConnectError } from "@connectrpc/connect";
import { type Result, WifiFailReason } from "./gen/espprov/v1/espprov_pb.js";

/** What failed, in the classes of the espprov CLI's exit codes. */
export enum ErrorClass {
  /** exit 1: a bug or an unexpected server answer */
  Internal = "internal",
  /** exit 2: bad request; nothing was sent to the device */
  Usage = "usage",
  /** exit 3: not found, unreachable, stopped answering, busy */
  Device = "device",
  /** exit 4: wrong PoP or Security 2 username/password */
  Credentials = "credentials",
  /** exit 5: the device could not join the network */
  Wifi = "wifi",
  /** exit 6: ESP RainMaker login, mapping or account problem */
  Cloud = "cloud",
  /** espprovd refused the caller (token or certificate); exit 2 */
  Access = "access",
  /** exit 130: the caller cancelled */
  Cancelled = "cancelled",
}

const exitCodes: Record<ErrorClass, number> = {
  [ErrorClass.Internal]: 1,
  [ErrorClass.Usage]: 2,
  [ErrorClass.Device]: 3,
  [ErrorClass.Credentials]: 4,
  [ErrorClass.Wifi]: 5,
  [ErrorClass.Cloud]: 6,
  [ErrorClass.Access]: 2,
  [ErrorClass.Cancelled]: 130,
};

/** The espprov CLI's exit code for a class. */
export function exitCode(c: ErrorClass): number {
  return exitCodes[c];
}

/** True when a failed Result says the device could not join Wi-Fi. */
export function isWifiResult(r: Result | undefined): boolean {
  if (r === undefined || r.success || r.ip4Address !== "") {
    return false; // an address means Wi-Fi succeeded: the failure is elsewhere
  }
  return r.ssid !== "" || r.failReason !== WifiFailReason.UNSPECIFIED || r.deviceReset;
}

/**
 * Classify a gRPC status the way the espprov CLI chooses its exit code.
 * result is the last Result event of a Provision stream, if any; mapping
 * says whether the call asked for RainMaker mapping.
 */
export function classify(code: Code, message: string, result?: Result, mapping = false): ErrorClass {
  const lower = message.toLowerCase();
  const cloudish = lower.includes("rainmaker") || lower.includes("cloud");
  // espprovd's own authentication and authorization (token, certificate).
  const server = lower.startsWith("espprovd:") || lower.includes("authorization");
  switch (code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
      return ErrorClass.Usage;
    case Code.PermissionDenied:
      return server ? ErrorClass.Access : ErrorClass.Credentials;
    case Code.Unauthenticated:
      return server ? ErrorClass.Access : ErrorClass.Cloud;
    case Code.FailedPrecondition:
    case Code.DeadlineExceeded:
      if (isWifiResult(result)) return ErrorClass.Wifi;
      return mapping && cloudish ? ErrorClass.Cloud : ErrorClass.Device;
    case Code.Unavailable:
    case Code.NotFound:
    case Code.Aborted:
    case Code.ResourceExhausted:
      return mapping && cloudish ? ErrorClass.Cloud : ErrorClass.Device;
    case Code.Unimplemented:
      return mapping && !lower.includes("transport") ? ErrorClass.Cloud : ErrorClass.Device;
    case Code.Canceled:
      return ErrorClass.Cancelled;
    default:
      return ErrorClass.Internal;
  }
}

/** A failed call: the gRPC status, its class and, for Provision, the last Result. */
export class EspprovError extends Error {
  override name = "EspprovError";
  constructor(
    readonly code: Code,
    /** The server's message (never contains a secret). */
    readonly rawMessage: string,
    readonly errorClass: ErrorClass,
    /** The last Result event of a Provision stream, if one arrived. */
    readonly result?: Result,
    options?: { cause?: unknown },
  ) {
    super(`${errorClass}: ${Code[code]}: ${rawMessage}`, options);
  }

  /** The espprov CLI's exit code for this failure. */
  get exitCode(): number {
    return exitCode(this.errorClass);
  }

  /** A device-class failure may pass on a second attempt (link drop, busy). */
  get retryable(): boolean {
    return this.errorClass === ErrorClass.Device;
  }

  /**
   * The EspprovError for a failed call. callerCancelled says whether the
   * caller aborted the call: a Canceled it did not ask for is a connection
   * closed under the call (Connect-node says Canceled), Unavailable to gRPC.
   */
  static from(err: unknown, result?: Result, mapping = false, callerCancelled = false): EspprovError {
    if (err instanceof EspprovError) return err;
    const ce = ConnectError.from(err);
    let code = ce.code;
    if (code === Code.Canceled && !callerCancelled) code = Code.Unavailable;
    // Connect-node reports a failed TLS handshake with espprovd as Internal;
    // gRPC (and the Python client) call it Unavailable: so do we.
    if (code === Code.Internal && isTLSFailure(ce.cause)) code = Code.Unavailable;
    return new EspprovError(code, ce.rawMessage, classify(code, ce.rawMessage, result, mapping), result, {
      cause: err,
    });
  }
}

/** Node's certificate and TLS error codes (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID). */
function isTLSFailure(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/.test(code);
}
