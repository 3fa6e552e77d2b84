"""Client and AsyncClient: the generated ProvisioningServiceStub with typed errors,
progress streams that can be cancelled, and espprovd's token and TLS options."""

from __future__ import annotations

import os
from typing import AsyncIterator, Iterator, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio

from .errors import EspprovError
from .v1 import espprov_pb2 as pb
from .v1 import espprov_pb2_grpc as pb_grpc

Metadata = Sequence[Tuple[str, str]]
PEM = Union[bytes, str, os.PathLike]


def _pem(v: Optional[PEM]) -> Optional[bytes]:
    """PEM bytes as given, or read from a path."""
    if v is None or isinstance(v, bytes):
        return v
    with open(v, "rb") as f:
        return f.read()


class _Options:
    """Connection options shared by Client and AsyncClient."""

    def __init__(
        self,
        target: str,
        token: Optional[str],
        ca: Optional[PEM],
        tls: Optional[bool],
        server_name: Optional[str],
        client_cert: Optional[PEM],
        client_key: Optional[PEM],
        metadata: Optional[Metadata],
    ):
        self.target = target
        md: List[Tuple[str, str]] = list(metadata or [])
        if token:
            md.append(("authorization", "Bearer " + token))
        self.metadata = tuple(md)
        self.secure = bool(tls) or ca is not None or client_cert is not None
        self.credentials = None
        self.channel_options: List[Tuple[str, str]] = []
        if self.secure:
            self.credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(ca),
                private_key=_pem(client_key),
                certificate_chain=_pem(client_cert),
            )
            if server_name:
                self.channel_options.append(("grpc.ssl_target_name_override", server_name))


def _mapping_requested(req: pb.ProvisionRequest) -> bool:
    return req.mapping.enabled or req.no_wifi or req.device.transport == pb.TRANSPORT_ON_NETWORK


class ProvisionStream:
    """The progress events of one Provision call (iterate it); cancel() stops it.

    Iteration raises EspprovError when the call fails; its result is the last
    Result event the server sent (Wi-Fi failure reason, device reset).
    """

    def __init__(self, call, mapping: bool):
        self._call = call
        self._mapping = mapping
        self.result: Optional[pb.Result] = None

    def cancel(self) -> None:
        self._call.cancel()

    def _seen(self, ev: pb.ProvisionResponse) -> None:
        if ev.HasField("result"):
            self.result = ev.result

    def _error(self, err: grpc.RpcError) -> EspprovError:
        return EspprovError.from_rpc_error(err, self.result, self._mapping)

    def __iter__(self) -> Iterator[pb.ProvisionResponse]:
        try:
            for ev in self._call:
                self._seen(ev)
                yield ev
        except grpc.RpcError as err:
            raise self._error(err) from None
        finally:
            self._call.cancel()  # no-op after the end; stops the call on break

    def __aiter__(self) -> AsyncIterator[pb.ProvisionResponse]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[pb.ProvisionResponse]:
        try:
            async for ev in self._call:
                self._seen(ev)
                yield ev
        except grpc.RpcError as err:
            raise self._error(err) from None
        finally:
            self._call.cancel()


class _ClientBase:
    """The options and channel of Client and AsyncClient (grpc or grpc.aio)."""

    _grpc = grpc

    def __init__(
        self,
        target: str,
        *,
        token: Optional[str] = None,
        ca: Optional[PEM] = None,
        tls: Optional[bool] = None,
        server_name: Optional[str] = None,
        client_cert: Optional[PEM] = None,
        client_key: Optional[PEM] = None,
        metadata: Optional[Metadata] = None,
    ):
        self._o = _Options(target, token, ca, tls, server_name, client_cert, client_key, metadata)
        if self._o.secure:
            self._channel = self._grpc.secure_channel(target, self._o.credentials, self._o.channel_options)
        else:
            self._channel = self._grpc.insecure_channel(target)
        self.stub = pb_grpc.ProvisioningServiceStub(self._channel)


class Client(_ClientBase):
    """A blocking client of espprovd.

    target is espprovd's gRPC address (host:port). token is sent as
    `authorization: Bearer <token>`; ca (PEM bytes or a file path), tls=True
    (system roots), client_cert/client_key (mTLS) switch to TLS; server_name
    overrides the name checked in the server's certificate. metadata is sent
    with every call (e.g. x-rainmaker-refresh-token to act for an account).
    """


    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def discover(self, req: pb.DiscoverRequest, timeout: Optional[float] = None) -> List[pb.DiscoverResponse]:
        """Every device found over req.device.transport within req.timeout."""
        try:
            return list(self.stub.Discover(req, timeout=timeout, metadata=self._o.metadata))
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err) from None

    def scan_wifi(self, req: pb.ScanWifiRequest, timeout: Optional[float] = None) -> pb.ScanWifiResponse:
        try:
            return self.stub.ScanWifi(req, timeout=timeout, metadata=self._o.metadata)
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err) from None

    def provision(self, req: pb.ProvisionRequest, timeout: Optional[float] = None) -> ProvisionStream:
        """Start provisioning; iterate the result for the progress events."""
        call = self.stub.Provision(req, timeout=timeout, metadata=self._o.metadata)
        return ProvisionStream(call, _mapping_requested(req))

    def map_node(self, req: pb.MapNodeRequest, timeout: Optional[float] = None) -> pb.MapNodeResponse:
        try:
            return self.stub.MapNode(req, timeout=timeout, metadata=self._o.metadata)
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err, mapping=True) from None

    def disable_challenge_response(
        self, req: pb.DisableChallengeResponseRequest, timeout: Optional[float] = None
    ) -> pb.DisableChallengeResponseResponse:
        try:
            return self.stub.DisableChallengeResponse(req, timeout=timeout, metadata=self._o.metadata)
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err) from None


class AsyncClient(_ClientBase):
    """The asyncio client (grpc.aio); same options and methods as Client.

    provision() returns a ProvisionStream to use with `async for`; leaving the
    loop early (break, an exception, task cancellation) cancels the call.
    """

    _grpc = grpc.aio


    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def discover(self, req: pb.DiscoverRequest, timeout: Optional[float] = None) -> List[pb.DiscoverResponse]:
        try:
            return [d async for d in self.stub.Discover(req, timeout=timeout, metadata=self._o.metadata)]
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err) from None

    async def scan_wifi(self, req: pb.ScanWifiRequest, timeout: Optional[float] = None) -> pb.ScanWifiResponse:
        try:
            return await self.stub.ScanWifi(req, timeout=timeout, metadata=self._o.metadata)
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err) from None

    def provision(self, req: pb.ProvisionRequest, timeout: Optional[float] = None) -> ProvisionStream:
        call = self.stub.Provision(req, timeout=timeout, metadata=self._o.metadata)
        return ProvisionStream(call, _mapping_requested(req))

    async def map_node(self, req: pb.MapNodeRequest, timeout: Optional[float] = None) -> pb.MapNodeResponse:
        try:
            return await self.stub.MapNode(req, timeout=timeout, metadata=self._o.metadata)
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err, mapping=True) from None

    async def disable_challenge_response(
        self, req: pb.DisableChallengeResponseRequest, timeout: Optional[float] = None
    ) -> pb.DisableChallengeResponseResponse:
        try:
            return await self.stub.DisableChallengeResponse(req, timeout=timeout, metadata=self._o.metadata)
        except grpc.RpcError as err:
            raise EspprovError.from_rpc_error(err) from None
