#!/usr/bin/env python3
"""Line-station provisioning through espprovd: a CSV of units in, a CSV of results out.

    mes.py --server 127.0.0.1:50051 --units units.csv --networks networks.csv \
           --out results.csv [--concurrency 4] [--map] [--token-file F] [--ca ca.pem]

units.csv columns (a header line names them):
    serial   the unit's serial number (the result's key)
    device   host:port of the device's provisioning endpoint (httpd/softap), or
             a name (BLE advertised name, or on-network instance/node id; see
             --name-transport)
    pop      the proof of possession (Security 1) or Security 2 password, or a
             QR payload ({"ver":"v1","name":...,"pop":...,"username":...})
    ssid     the network the unit joins

networks.csv (ssid,passphrase) holds the Wi-Fi passphrases, so that they are
neither in the units file nor on the command line. Each unit is provisioned
with at most --concurrency at once; a unit that failed for a device reason
(unreachable, busy, stopped answering) is retried once. One progress line per
unit on standard output; results.csv gets unit, result, error_class, node_id,
duration_s, attempts, error. Exit status 0 when every unit passed, 1 when one
failed, 2 on bad input.

Every attempt is a job in espprovd's durable record with the unit's serial
number, --station and --work-order (ListJobs/ExportJobs filter on them). With
--run-id the run is resumable: running the same command again after a crash
(or a power cut at the station) replays what espprovd recorded for each
attempt and only provisions the units it had not reached.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

try:
    import espprov
except ImportError:  # running from a checkout: the client is in clients/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import espprov

import grpc
from espprov import AsyncClient, ErrorClass, EspprovError, pb

RESULT_FIELDS = ["unit", "result", "error_class", "node_id", "duration_s", "attempts", "error"]
NAME_TRANSPORTS = {"ble": pb.TRANSPORT_BLE, "on-network": pb.TRANSPORT_ON_NETWORK}


class InputError(Exception):
    """A bad units or networks file."""


@dataclass
class Unit:
    serial: str
    device: pb.Device
    security: pb.Security
    ssid: str


@dataclass
class Outcome:
    unit: str
    result: str = "ok"
    error_class: str = ""
    node_id: str = ""
    duration_s: float = 0.0
    attempts: int = 0
    error: str = ""


def parse_unit(row: Dict[str, str], line: int, name_transport: int) -> Unit:
    serial = (row.get("serial") or "").strip()
    dev = (row.get("device") or "").strip()
    secret = (row.get("pop") or "").strip()
    ssid = (row.get("ssid") or "").strip()
    if not serial or not ssid:
        raise InputError(f"line {line}: serial and ssid are required")
    username, pop, qr_name = "wifiprov", secret, ""
    if secret.startswith("{"):  # an ESP provisioning QR payload
        try:
            qr = json.loads(secret)
        except ValueError as e:
            raise InputError(f"line {line}: pop column: not a QR payload: {e.msg}") from None
        pop = str(qr.get("pop", ""))
        username = str(qr.get("username", username))
        qr_name = str(qr.get("name", ""))
    dev = dev or qr_name
    if not dev:
        raise InputError(f"line {line}: device (address or name) is required")
    if ":" in dev:  # host:port or [IPv6]:port
        device = pb.Device(transport=pb.TRANSPORT_HTTPD, address=dev)
    else:
        device = pb.Device(transport=name_transport, name=dev)
    # The server detects the scheme from the device (proto-ver): Security 1
    # uses pop, Security 2 the username and password.
    security = pb.Security(pop=pop, sec2_username=username, sec2_password=pop)
    return Unit(serial, device, security, ssid)


def read_units(path: str, name_transport: int) -> List[Unit]:
    with open(path, newline="") as f:
        units = [parse_unit(row, i + 2, name_transport) for i, row in enumerate(csv.DictReader(f))]
    serials = [u.serial for u in units]
    dup = {s for s in serials if serials.count(s) > 1}
    if dup:
        raise InputError(f"duplicate serial numbers: {', '.join(sorted(dup))}")
    return units


def read_networks(path: str) -> Dict[str, str]:
    with open(path, newline="") as f:
        return {row["ssid"]: row.get("passphrase") or "" for row in csv.DictReader(f)}


def request_id(run_id: str, serial: str, attempt: int) -> str:
    """The job key of one attempt: letters, digits and -_.: only, at most 128."""
    key = re.sub(r"[^A-Za-z0-9._:-]", "_", f"{run_id}:{serial}:{attempt}")
    return key if len(key) <= 128 else key[:96] + ":" + hashlib.sha256(key.encode()).hexdigest()[:31]


class Station:
    def __init__(self, client: AsyncClient, networks: Dict[str, str], args: argparse.Namespace, total: int):
        self.client = client
        self.networks = networks
        self.args = args
        self.total = total
        self.done = 0
        self.sem = asyncio.Semaphore(args.concurrency)

    def request(self, u: Unit, attempt: int) -> pb.ProvisionRequest:
        a = self.args
        req = pb.ProvisionRequest(device=u.device, security=u.security,
                                  wifi=pb.WifiCredentials(ssid=u.ssid, passphrase=self.networks.get(u.ssid, "")),
                                  serial_number=u.serial, station=a.station, work_order=a.work_order)
        if a.run_id:  # idempotency key: a re-run attaches to this attempt's job
            req.request_id = request_id(a.run_id, u.serial, attempt)
        req.mapping.enabled = self.args.map
        if self.args.status_poll:
            req.timeouts.status_poll.FromMilliseconds(self.args.status_poll)
        return req

    async def attempt(self, u: Unit, attempt: int) -> pb.Result:
        stream = self.client.provision(self.request(u, attempt), timeout=self.args.unit_timeout)
        async for _ in stream:
            pass
        if stream.result is None or not stream.result.success:  # a server always ends with an error then
            raise EspprovError(grpc.StatusCode.UNKNOWN, "stream ended without a result", ErrorClass.INTERNAL)
        return stream.result

    async def provision(self, u: Unit) -> Outcome:
        out = Outcome(u.serial)
        async with self.sem:
            start = time.monotonic()  # the unit's own time, not its wait for a slot
            for attempt in (1, 2):
                out.attempts = attempt
                try:
                    res = await self.attempt(u, attempt)
                    out.result, out.error_class, out.error = "ok", "", ""
                    out.node_id = res.node_id
                    break
                except EspprovError as e:
                    out.result, out.error_class, out.error = "failed", e.error_class.value, e.message
                    if attempt == 1 and e.error_class.retryable:
                        self.line(u.serial, f"retry   {e.error_class.value}: {e.message}")
                        await asyncio.sleep(self.args.retry_delay)
                        continue
                    break
        out.duration_s = round(time.monotonic() - start, 3)
        self.done += 1
        detail = f"node={out.node_id}" if out.result == "ok" else f"{out.error_class}: {out.error}"
        self.line(u.serial, f"{out.result:<7} {detail} ({out.duration_s:.2f}s, attempts {out.attempts})",
                  f"[{self.done:>{len(str(self.total))}}/{self.total}]")
        return out

    @staticmethod
    def line(serial: str, text: str, prefix: str = "") -> None:
        print(f"{prefix} {serial} {text}".strip(), flush=True)


async def run(args: argparse.Namespace) -> int:
    name_transport = NAME_TRANSPORTS[args.name_transport]
    try:
        units = read_units(args.units, name_transport)
        networks = read_networks(args.networks)
    except (InputError, OSError, KeyError) as e:
        print(f"mes: {e}", file=sys.stderr)
        return 2
    missing = sorted({u.ssid for u in units} - networks.keys())
    if missing:
        print(f"mes: no passphrase in {args.networks} for: {', '.join(missing)}", file=sys.stderr)
        return 2
    token = None
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    token = token or os.environ.get("ESPPROV_TOKEN") or None
    start = time.monotonic()
    async with AsyncClient(args.server, token=token, ca=args.ca) as client:
        station = Station(client, networks, args, len(units))
        outcomes = await asyncio.gather(*(station.provision(u) for u in units))
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_FIELDS)
        w.writeheader()
        for o in outcomes:
            w.writerow(o.__dict__)
    failed = sum(o.result != "ok" for o in outcomes)
    print(f"{len(units) - failed} ok, {failed} failed in {time.monotonic() - start:.1f}s; results in {args.out}", flush=True)
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="espprovd gRPC address HOST:PORT")
    p.add_argument("--units", required=True, help="CSV: serial,device,pop,ssid")
    p.add_argument("--networks", required=True, help="CSV: ssid,passphrase")
    p.add_argument("--out", required=True, help="result CSV to write")
    p.add_argument("--concurrency", type=int, default=4, help="units provisioned at once (default 4)")
    p.add_argument("--map", action="store_true", help="also map each node to the server's RainMaker account")
    p.add_argument("--name-transport", choices=sorted(NAME_TRANSPORTS), default="ble",
                   help="transport for a device given by name (default ble)")
    p.add_argument("--station", default=socket.gethostname(), help="station name in the job records (default: host name)")
    p.add_argument("--work-order", default="", help="work order in the job records")
    p.add_argument("--run-id", default="",
                   help="make the run resumable: each attempt is a job keyed RUN_ID:SERIAL:ATTEMPT, and running "
                        "again with the same id replays recorded attempts instead of touching those devices again")
    p.add_argument("--token-file", help="file holding the espprovd token (default $ESPPROV_TOKEN)")
    p.add_argument("--ca", help="CA certificate (PEM) of a TLS espprovd")
    p.add_argument("--unit-timeout", type=float, default=300, help="seconds per attempt (default 300)")
    p.add_argument("--retry-delay", type=float, default=1, help="seconds before the retry of a device failure")
    p.add_argument("--status-poll", type=int, default=0, help="Wi-Fi status poll interval in ms (default: the server's)")
    args = p.parse_args(argv)
    if args.concurrency < 1:
        p.error("--concurrency must be at least 1")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
