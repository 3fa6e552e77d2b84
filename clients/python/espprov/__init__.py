"""Python client for the espprov provisioning service (espprov.v1 over gRPC).

    from espprov import Client, EspprovError, pb

    with Client("127.0.0.1:50051", token=None, ca=None) as c:
        for ev in c.provision(pb.ProvisionRequest(...)):
            print(pb.Step.Name(ev.step), ev.message)

pb is the generated espprov.v1 message module (espprov.v1.espprov_pb2, with
.pyi stubs); Client.stub / AsyncClient.stub is the generated
ProvisioningServiceStub for anything the small layer here does not cover.
"""

from .client import AsyncClient, Client, ProvisionStream
from .errors import ErrorClass, EspprovError, classify
from .v1 import espprov_pb2 as pb
from .v1 import espprov_pb2_grpc as pb_grpc

__all__ = [
    "AsyncClient",
    "Client",
    "ErrorClass",
    "EspprovError",
    "ProvisionStream",
    "classify",
    "pb",
    "pb_grpc",
]
