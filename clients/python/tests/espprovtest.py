"""Test harness: real espsim devices and a real espprovd on loopback, free ports.

The binaries come from $ESPPROV_BIN_DIR (make test-clients builds them there)
or are built once with `go build` into a temporary directory. Every process
listens on port 0 and the harness reads the addresses it prints.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
START_TIMEOUT = 120.0  # a loaded CI machine may take long to start a binary

_bin_dir: Optional[str] = None


def bin_dir() -> str:
    """The directory holding espprovd and espsim, building them if needed."""
    global _bin_dir
    if _bin_dir:
        return _bin_dir
    d = os.environ.get("ESPPROV_BIN_DIR")
    if d:
        _bin_dir = d
        return d
    go = shutil.which("go") or "/usr/local/go/bin/go"
    d = tempfile.mkdtemp(prefix="espprov-bin-")
    atexit.register(shutil.rmtree, d, True)
    subprocess.run([go, "build", "-o", d, "./cmd/espprovd", "./cmd/espsim"], cwd=REPO, check=True)
    _bin_dir = d
    return d


class Proc:
    """A child process whose output lines are read by a thread."""

    def __init__(self, name: str, argv: Sequence[str], env: Optional[Dict[str, str]] = None):
        self.name = name
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.log: List[str] = []
        self.p = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.log.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = START_TIMEOUT) -> "re.Match[str]":
        """Wait for an output line matching pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no line matching {pattern!r} in {timeout}s; output:\n{''.join(self.log)}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.p.wait()}) before {pattern!r}; output:\n{''.join(self.log)}")
            m = rx.search(line)
            if m:
                return m

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@dataclass
class SimDevice:
    name: str
    address: str
    node_id: str


@dataclass
class Sim:
    proc: Proc
    devices: List[SimDevice] = field(default_factory=list)
    cloud_url: str = ""

    def stop(self) -> None:
        self.proc.stop()


def start_espsim(*args: str, devices: int = 1, cloud: bool = False) -> Sim:
    """espsim with args on an ephemeral port (fleet devices each get one)."""
    argv = [os.path.join(bin_dir(), "espsim"), "--http-listen", "127.0.0.1:0", "--fleet", str(devices), *args]
    if cloud:
        argv += ["--cloud-listen", "127.0.0.1:0"]
    sim = Sim(Proc("espsim", argv))
    try:
        if cloud:
            sim.cloud_url = sim.proc.expect(r"RainMaker cloud on (\S+) ").group(1)
        for _ in range(devices):
            m = sim.proc.expect(r"^(\S+) listening on (\S+) \(node (\w+),")
            sim.devices.append(SimDevice(m.group(1), m.group(2), m.group(3)))
    except BaseException:
        sim.stop()
        raise
    return sim


@dataclass
class Server:
    proc: Proc
    grpc: str
    http: str

    def stop(self) -> None:
        self.proc.stop()


def start_espprovd(*args: str, env: Optional[Dict[str, str]] = None) -> Server:
    """espprovd serving gRPC and REST on ephemeral loopback ports."""
    argv = [os.path.join(bin_dir(), "espprovd"), "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", *args]
    if "--store" not in args:  # a job store of its own (one espprovd per SQLite file)
        store = tempfile.mkdtemp(prefix="espprovd-jobs-")
        atexit.register(shutil.rmtree, store, True)
        argv += ["--store", os.path.join(store, "jobs.db")]
    proc = Proc("espprovd", argv, env)
    try:
        # slog text (grpc=ADDR) or JSON ("grpc":"ADDR")
        m = proc.expect(r"espprovd serving.*?\bgrpc\W+([\w.\[\]:-]+:\d+).*?\bhttp\W+([\w.\[\]:-]+:\d+)")
    except BaseException:
        proc.stop()
        raise
    return Server(proc, m.group(1), m.group(2))


def rainmaker_env(cloud_url: str) -> Dict[str, str]:
    """espprovd's RainMaker account: the simulated cloud's default account."""
    return {
        "ESPPROV_RAINMAKER_URL": cloud_url,
        "ESPPROV_RAINMAKER_USER": "maker@example.com",
        "ESPPROV_RAINMAKER_PASSWORD": "makerpass",
    }


@dataclass
class SecureServer:
    """espprovd with TLS and bearer tokens (--auth-tokens, --tls-cert/--tls-key)."""

    server: Server
    dir: str
    tokens: Dict[str, str]  # name -> token

    @property
    def grpc(self) -> str:
        return self.server.grpc

    @property
    def http(self) -> str:
        return self.server.http

    def pem(self, name: str) -> str:
        """Path of ca.pem or other-ca.pem (a CA that did not sign the server)."""
        return os.path.join(self.dir, name)

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, True)


def start_secure_espprovd(scopes: Dict[str, str], env: Optional[Dict[str, str]] = None) -> SecureServer:
    """espprovd over TLS (a throw-away CA) with one token per name -> scopes."""
    d = tempfile.mkdtemp(prefix="espprovd-tls-")
    try:
        subprocess.run(["sh", os.path.join(REPO, "clients", "testdata", "mkcerts.sh"), d], check=True)
        tokens_file = os.path.join(d, "tokens.yaml")
        tokens = {}
        for name, sc in scopes.items():
            out = subprocess.run(
                [os.path.join(bin_dir(), "espprovd"), "token", "create", "--file", tokens_file, "--name", name, "--scopes", sc],
                check=True, capture_output=True, text=True,
            ).stdout
            tokens[name] = out.strip().splitlines()[-1]  # the token alone on the last line
        server = start_espprovd(
            "--auth-tokens", tokens_file,
            "--tls-cert", os.path.join(d, "server.pem"),
            "--tls-key", os.path.join(d, "server.key"),
            env=env,
        )
    except BaseException:
        shutil.rmtree(d, True)
        raise
    return SecureServer(server, d, tokens)
