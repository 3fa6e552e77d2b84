"""Station's scheduling with a scripted client: the concurrency bound holds and
only device-class failures are retried (the end-to-end run is test_mes.py)."""

import argparse
import asyncio
import contextlib
import io
import unittest

import mes
from mes import ErrorClass, EspprovError, Station, Unit, grpc, pb


class ScriptedStream:
    def __init__(self, client, unit):
        self.client, self.unit, self.result = client, unit, None

    def __aiter__(self):
        return self._run()

    async def _run(self):
        c = self.client
        c.running += 1
        c.max_running = max(c.max_running, c.running)
        try:
            await asyncio.sleep(0.01)  # let the other units start, if the bound allows
            outcome = c.script[self.unit].pop(0)
            if isinstance(outcome, EspprovError):
                raise outcome
            self.result = pb.Result(success=True, node_id="node-" + self.unit)
            yield pb.ProvisionResponse(step=pb.STEP_RESULT, result=self.result)
        finally:
            c.running -= 1


class ScriptedClient:
    """Stands in for AsyncClient: each unit's attempts follow its script."""

    def __init__(self, script):
        self.script, self.running, self.max_running, self.requests = script, 0, 0, []

    def provision(self, req, timeout=None):
        self.requests.append(req)
        return ScriptedStream(self, req.device.address)


def err(cls):
    return EspprovError(grpc.StatusCode.UNAVAILABLE, f"{cls.value} failure", cls)


def run_station(script, concurrency):
    client = ScriptedClient(script)
    args = argparse.Namespace(concurrency=concurrency, map=False, status_poll=0, unit_timeout=10, retry_delay=0,
                              station="line-1", work_order="", run_id="")
    units = [Unit(u, pb.Device(transport=pb.TRANSPORT_HTTPD, address=u), pb.Security(), "HomeNet") for u in script]
    station = Station(client, {"HomeNet": "secret-pass"}, args, len(units))

    async def go():
        return await asyncio.gather(*(station.provision(u) for u in units))

    with contextlib.redirect_stdout(io.StringIO()):
        outcomes = asyncio.run(go())
    return client, {o.unit: o for o in outcomes}


class StationTest(unittest.TestCase):
    def test_concurrency_is_bounded(self):
        for bound in (1, 3, 8):
            with self.subTest(concurrency=bound):
                client, out = run_station({f"u{i}:1": [None] for i in range(12)}, bound)
                self.assertEqual(client.max_running, bound)
                self.assertTrue(all(o.result == "ok" for o in out.values()))

    def test_only_device_failures_are_retried_once(self):
        script = {
            "flaky:1": [err(ErrorClass.DEVICE), None],  # passes on the retry
            "gone:1": [err(ErrorClass.DEVICE), err(ErrorClass.DEVICE)],
            "badpop:1": [err(ErrorClass.CREDENTIALS)],
            "wifi:1": [err(ErrorClass.WIFI)],
        }
        client, out = run_station(script, 2)
        self.assertEqual((out["flaky:1"].result, out["flaky:1"].attempts, out["flaky:1"].node_id), ("ok", 2, "node-flaky:1"))
        self.assertEqual(out["flaky:1"].error_class, "")
        self.assertEqual((out["gone:1"].result, out["gone:1"].attempts, out["gone:1"].error_class), ("failed", 2, "device"))
        self.assertEqual((out["badpop:1"].attempts, out["badpop:1"].error_class), (1, "credentials"))
        self.assertEqual((out["wifi:1"].attempts, out["wifi:1"].error_class), (1, "wifi"))
        self.assertEqual(len(client.requests), 6)

    def test_qr_payload(self):
        u = mes.parse_unit({"serial": "S1", "device": "", "ssid": "HomeNet",
                            "pop": '{"ver":"v1","name":"PROV_1A2B3C","username":"wifiprov","pop":"abcd1234","transport":"ble"}'},
                           2, pb.TRANSPORT_BLE)
        self.assertEqual((u.device.transport, u.device.name), (pb.TRANSPORT_BLE, "PROV_1A2B3C"))
        self.assertEqual((u.security.pop, u.security.sec2_username, u.security.sec2_password),
                         ("abcd1234", "wifiprov", "abcd1234"))
        with self.assertRaises(mes.InputError):
            mes.parse_unit({"serial": "S2", "device": "", "ssid": "x", "pop": "{not json"}, 3, pb.TRANSPORT_BLE)


if __name__ == "__main__":
    unittest.main()
