"""EspprovError: a failed espprov call, classified like the espprov CLI's exit codes."""

from __future__ import annotations

import enum
from typing import Optional

import grpc

from .v1 import espprov_pb2 as pb


class ErrorClass(str, enum.Enum):
    """What failed, in the classes of the espprov CLI's exit codes (README)."""

    INTERNAL = "internal"  # exit 1: a bug or an unexpected server answer
    USAGE = "usage"  # exit 2: bad request; nothing was sent to the device
    DEVICE = "device"  # exit 3: not found, unreachable, stopped answering, busy
    CREDENTIALS = "credentials"  # exit 4: wrong PoP or Security 2 username/password
    WIFI = "wifi"  # exit 5: the device could not join the network
    CLOUD = "cloud"  # exit 6: ESP RainMaker login, mapping or account problem
    ACCESS = "access"  # espprovd refused the caller (token/certificate); exit 2
    CANCELLED = "cancelled"  # exit 130: the caller cancelled

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]

    @property
    def retryable(self) -> bool:
        """A device-class failure may pass on a second attempt (link drop, busy)."""
        return self is ErrorClass.DEVICE


_EXIT_CODES = {
    ErrorClass.INTERNAL: 1,
    ErrorClass.USAGE: 2,
    ErrorClass.DEVICE: 3,
    ErrorClass.CREDENTIALS: 4,
    ErrorClass.WIFI: 5,
    ErrorClass.CLOUD: 6,
    ErrorClass.ACCESS: 2,
    ErrorClass.CANCELLED: 130,
}

_C = grpc.StatusCode


def is_wifi_result(result: Optional[pb.Result]) -> bool:
    """True when a failed Result says the device could not join Wi-Fi."""
    if result is None or result.success or result.ip4_address:
        return False  # an address means Wi-Fi succeeded: the failure is elsewhere
    return bool(
        result.ssid
        or result.fail_reason != pb.WIFI_FAIL_REASON_UNSPECIFIED
        or result.device_reset
    )


def classify(
    code: grpc.StatusCode,
    message: str = "",
    result: Optional[pb.Result] = None,
    mapping: bool = False,
) -> ErrorClass:
    """Classify a gRPC status the way the espprov CLI chooses its exit code.

    result is the last Result event of a Provision stream, if one arrived;
    mapping says whether the call asked for RainMaker mapping.
    """
    lower = message.lower()
    cloudish = "rainmaker" in lower or "cloud" in lower
    # espprovd's own authentication and authorization (token, certificate).
    server = lower.startswith("espprovd:") or "authorization" in lower
    if code in (_C.INVALID_ARGUMENT, _C.OUT_OF_RANGE):
        return ErrorClass.USAGE
    if code == _C.PERMISSION_DENIED:
        return ErrorClass.ACCESS if server else ErrorClass.CREDENTIALS
    if code == _C.UNAUTHENTICATED:
        return ErrorClass.ACCESS if server else ErrorClass.CLOUD
    if code in (_C.FAILED_PRECONDITION, _C.DEADLINE_EXCEEDED):
        if is_wifi_result(result):
            return ErrorClass.WIFI
        if mapping and cloudish:
            return ErrorClass.CLOUD
        return ErrorClass.DEVICE
    if code in (_C.UNAVAILABLE, _C.NOT_FOUND, _C.ABORTED, _C.RESOURCE_EXHAUSTED):
        return ErrorClass.CLOUD if mapping and cloudish else ErrorClass.DEVICE
    if code == _C.UNIMPLEMENTED:
        return ErrorClass.CLOUD if mapping and "transport" not in lower else ErrorClass.DEVICE
    if code == _C.CANCELLED:
        return ErrorClass.CANCELLED
    return ErrorClass.INTERNAL


class EspprovError(Exception):
    """A failed call: the gRPC status, its class and, for Provision, the last Result."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        error_class: ErrorClass,
        result: Optional[pb.Result] = None,
    ):
        super().__init__(f"{error_class.value}: {code.name}: {message}")
        self.code = code
        self.message = message
        self.error_class = error_class
        self.result = result

    @property
    def exit_code(self) -> int:
        """The espprov CLI's exit code for this failure."""
        return self.error_class.exit_code

    @property
    def fail_reason(self) -> int:
        """The Wi-Fi failure reason (pb.WIFI_FAIL_REASON_*), if the device gave one."""
        return self.result.fail_reason if self.result is not None else pb.WIFI_FAIL_REASON_UNSPECIFIED

    @classmethod
    def from_rpc_error(
        cls, err: grpc.RpcError, result: Optional[pb.Result] = None, mapping: bool = False
    ) -> "EspprovError":
        code = err.code() if hasattr(err, "code") else _C.UNKNOWN
        details = (err.details() if hasattr(err, "details") else None) or str(err)
        return cls(code, details, classify(code, details, result, mapping), result)
