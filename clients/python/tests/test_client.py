"""The Python client against a real espprovd and espsim devices on loopback.

Run from clients/python: python3 -m unittest discover -s tests -v
"""

import asyncio
import time
import unittest

from google.protobuf.duration_pb2 import Duration

import espprovtest as h
from espprov import AsyncClient, Client, ErrorClass, EspprovError, pb

SSID, PASS = "HomeNet", "secret-pass"
SEC2 = pb.Security(sec2_username="wifiprov", sec2_password="abcd1234")
# Fast polls: the simulated devices join in 50 ms.
FAST = pb.Timeouts(status_poll=Duration(nanos=20_000_000), overall=Duration(seconds=120))
CALL_TIMEOUT = 120.0

fleet = slow = sec1 = server = secure = None
_next = 1  # device 0: Discover, ScanWifi and the Wi-Fi failure (which resets it)


def setUpModule():
    global fleet, slow, sec1, server, secure
    try:
        # Security 2 RainMaker (challenge-response) devices and the simulated cloud.
        fleet = h.start_espsim("--ap", f"{SSID}:{PASS}", "--connect-delay", "50ms",
                               "--rainmaker", "chal-resp", devices=8, cloud=True)
        # A device that takes an hour to join Wi-Fi: a call to it is still running when cancelled.
        # One per cancel test: a cancelled device is left applying its config.
        slow = h.start_espsim("--ap", f"{SSID}:{PASS}", "--connect-delay", "1h", devices=2)
        # Security 1 with a proof of possession.
        sec1 = h.start_espsim("--ap", f"{SSID}:{PASS}", "--sec-ver", "1", "--pop", "pop-1234")
        server = h.start_espprovd(env=h.rainmaker_env(fleet.cloud_url))
        # TLS and tokens: "station" may do everything, "viewer" only discover.
        secure = h.start_secure_espprovd({"station": "discover,provision,map", "viewer": "discover"},
                                         env=h.rainmaker_env(fleet.cloud_url))
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for p in (secure, server, fleet, slow, sec1):
        if p is not None:
            p.stop()


def next_device():
    """A fresh fleet device (a simulated device stops provisioning after success)."""
    global _next
    d = fleet.devices[_next]
    _next += 1
    return d


def httpd(address):
    return pb.Device(transport=pb.TRANSPORT_HTTPD, address=address)


def provision_request(address, security=SEC2, passphrase=PASS):
    return pb.ProvisionRequest(device=httpd(address), security=security,
                               wifi=pb.WifiCredentials(ssid=SSID, passphrase=passphrase), timeouts=FAST)


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.c = Client(server.grpc)
        self.addCleanup(self.c.close)

    def test_discover_probes_the_device(self):
        d = fleet.devices[0]
        found = self.c.discover(pb.DiscoverRequest(device=httpd(d.address), timeout=Duration(seconds=20)),
                                timeout=CALL_TIMEOUT)
        self.assertEqual(len(found), 1, found)
        self.assertEqual(found[0].address, d.address)
        self.assertEqual(found[0].security, pb.SECURITY_SCHEME_2)
        self.assertEqual(found[0].transport, pb.TRANSPORT_HTTPD)

    def test_scan_wifi_lists_the_simulated_network(self):
        res = self.c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=SEC2, timeouts=FAST),
                               timeout=CALL_TIMEOUT)
        self.assertIn(SSID, [ap.ssid for ap in res.access_points])
        self.assertEqual(res.device_info.security, pb.SECURITY_SCHEME_2)

    def test_provision_streams_progress_to_success(self):
        stream = self.c.provision(provision_request(next_device().address), timeout=CALL_TIMEOUT)
        steps = [ev.step for ev in stream]
        for want in (pb.STEP_CONNECTING, pb.STEP_SESSION_ESTABLISHED, pb.STEP_CREDENTIALS_SENT, pb.STEP_RESULT):
            self.assertIn(want, steps)
        self.assertEqual(steps[-1], pb.STEP_RESULT)
        self.assertTrue(stream.result.success, stream.result)
        self.assertTrue(stream.result.ip4_address)
        self.assertEqual(stream.result.ssid, SSID)

    def test_wrong_pop_is_a_credentials_error(self):
        bad = pb.Security(scheme=pb.SECURITY_SCHEME_1, pop="not-the-pop")
        with self.assertRaises(EspprovError) as cm:
            list(self.c.provision(provision_request(sec1.devices[0].address, security=bad), timeout=CALL_TIMEOUT))
        e = cm.exception
        self.assertEqual(e.error_class, ErrorClass.CREDENTIALS, e)
        self.assertEqual(e.exit_code, 4)
        self.assertNotIn("not-the-pop", str(e))  # secrets never come back

    def test_wrong_sec2_password_is_a_credentials_error(self):
        bad = pb.Security(sec2_username="wifiprov", sec2_password="wrong-password")
        with self.assertRaises(EspprovError) as cm:
            self.c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=bad, timeouts=FAST),
                             timeout=CALL_TIMEOUT)
        self.assertEqual(cm.exception.error_class, ErrorClass.CREDENTIALS, cm.exception)

    def test_wrong_passphrase_is_a_wifi_error(self):
        # The device is reset after the failure, so it stays usable.
        with self.assertRaises(EspprovError) as cm:
            list(self.c.provision(provision_request(fleet.devices[0].address, passphrase="wrong-pass"),
                                  timeout=CALL_TIMEOUT))
        e = cm.exception
        self.assertEqual(e.error_class, ErrorClass.WIFI, e)
        self.assertEqual(e.exit_code, 5)
        self.assertEqual(e.fail_reason, pb.WIFI_FAIL_REASON_AUTH_ERROR)
        self.assertTrue(e.result.device_reset)

    def test_unreachable_device_is_a_device_error(self):
        # Nothing listens on port 1 of loopback.
        with self.assertRaises(EspprovError) as cm:
            self.c.scan_wifi(pb.ScanWifiRequest(device=httpd("127.0.0.1:1"), security=SEC2, timeouts=FAST),
                             timeout=CALL_TIMEOUT)
        self.assertEqual(cm.exception.error_class, ErrorClass.DEVICE, cm.exception)
        self.assertTrue(cm.exception.error_class.retryable)

    def test_cancel_mid_stream(self):
        stream = self.c.provision(provision_request(slow.devices[0].address), timeout=CALL_TIMEOUT)
        seen = []
        start = time.monotonic()
        with self.assertRaises(EspprovError) as cm:
            for ev in stream:
                seen.append(ev.step)
                if ev.step == pb.STEP_CONFIG_APPLIED:
                    stream.cancel()  # the device would take an hour to join
        self.assertIn(pb.STEP_CONFIG_APPLIED, seen)
        self.assertNotIn(pb.STEP_RESULT, seen)
        self.assertEqual(cm.exception.error_class, ErrorClass.CANCELLED)
        self.assertLess(time.monotonic() - start, 60)

    def test_map_node_against_the_simulated_cloud(self):
        d = next_device()
        res = self.c.map_node(pb.MapNodeRequest(device=httpd(d.address), security=SEC2,
                                                mapping=pb.Mapping(enabled=True), timeouts=FAST),
                              timeout=CALL_TIMEOUT)
        self.assertEqual(res.node_id, d.node_id)
        self.assertTrue(res.request_id)


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.c = AsyncClient(server.grpc)

    async def asyncTearDown(self):
        await self.c.close()

    async def test_provision_as_async_iterator(self):
        d = next_device()
        events = []
        stream = self.c.provision(provision_request(d.address), timeout=CALL_TIMEOUT)
        async for ev in stream:
            events.append(ev)
        self.assertEqual(events[-1].step, pb.STEP_RESULT)
        self.assertTrue(events[-1].result.success)
        self.assertTrue(any(ev.step == pb.STEP_WIFI_STATE and ev.wifi_state.state == pb.WIFI_STATION_STATE_CONNECTED
                            for ev in events), events)

    async def test_break_cancels_the_call(self):
        # Leaving the loop early cancels the call: the server then frees the
        # device, so a second call to it is not refused as busy (ABORTED).
        d = slow.devices[1]
        async for ev in self.c.provision(provision_request(d.address), timeout=CALL_TIMEOUT):
            if ev.step == pb.STEP_CONFIG_APPLIED:
                break
        deadline = time.monotonic() + 60
        while True:
            try:
                await self.c.discover(pb.DiscoverRequest(device=httpd(d.address), timeout=Duration(seconds=5)),
                                      timeout=CALL_TIMEOUT)
                return
            except EspprovError as e:
                if time.monotonic() > deadline:
                    self.fail(f"device still busy after the cancel: {e}")
                await asyncio.sleep(0.1)

    async def test_map_node(self):
        d = next_device()
        res = await self.c.map_node(pb.MapNodeRequest(device=httpd(d.address), security=SEC2,
                                                      mapping=pb.Mapping(enabled=True), timeouts=FAST),
                                    timeout=CALL_TIMEOUT)
        self.assertEqual(res.node_id, d.node_id)


class SecureServerTest(unittest.IsolatedAsyncioTestCase):
    """espprovd with --auth-tokens and TLS: the client's token and CA options."""

    def client(self, **kw):
        c = AsyncClient(secure.grpc, **kw)
        self.addAsyncCleanup(c.close)
        return c

    async def test_token_and_ca_provision(self):
        c = self.client(token=secure.tokens["station"], ca=secure.pem("ca.pem"))
        d = next_device()
        steps = [ev.step async for ev in c.provision(provision_request(d.address), timeout=CALL_TIMEOUT)]
        self.assertEqual(steps[-1], pb.STEP_RESULT)
        res = await c.map_node(pb.MapNodeRequest(device=httpd(next_device().address), security=SEC2,
                                                 mapping=pb.Mapping(enabled=True), timeouts=FAST), timeout=CALL_TIMEOUT)
        self.assertTrue(res.node_id)

    async def test_ca_as_pem_bytes(self):
        with open(secure.pem("ca.pem"), "rb") as f:
            c = self.client(token=secure.tokens["viewer"], ca=f.read())
        res = await c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=SEC2,
                                                   timeouts=FAST), timeout=CALL_TIMEOUT)
        self.assertIn(SSID, [ap.ssid for ap in res.access_points])

    async def test_missing_token_is_an_access_error(self):
        c = self.client(ca=secure.pem("ca.pem"))
        with self.assertRaises(EspprovError) as cm:
            await c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=SEC2),
                              timeout=CALL_TIMEOUT)
        self.assertEqual(cm.exception.code.name, "UNAUTHENTICATED")
        self.assertEqual(cm.exception.error_class, ErrorClass.ACCESS, cm.exception)

    async def test_wrong_token_is_an_access_error(self):
        c = self.client(token="not-a-token", ca=secure.pem("ca.pem"))
        with self.assertRaises(EspprovError) as cm:
            await c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=SEC2),
                              timeout=CALL_TIMEOUT)
        self.assertEqual(cm.exception.error_class, ErrorClass.ACCESS, cm.exception)
        self.assertNotIn("not-a-token", str(cm.exception))

    async def test_scope_missing_is_an_access_error(self):
        # A viewer token may discover but not provision; the device is untouched.
        c = self.client(token=secure.tokens["viewer"], ca=secure.pem("ca.pem"))
        with self.assertRaises(EspprovError) as cm:
            async for _ in c.provision(provision_request(fleet.devices[0].address), timeout=CALL_TIMEOUT):
                self.fail("an event for a refused call")
        self.assertEqual(cm.exception.code.name, "PERMISSION_DENIED")
        self.assertEqual(cm.exception.error_class, ErrorClass.ACCESS, cm.exception)

    async def test_server_not_signed_by_the_ca_is_refused(self):
        c = self.client(token=secure.tokens["station"], ca=secure.pem("other-ca.pem"))
        with self.assertRaises(EspprovError) as cm:
            await c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=SEC2),
                              timeout=CALL_TIMEOUT)
        self.assertEqual(cm.exception.code.name, "UNAVAILABLE", cm.exception)

    async def test_plaintext_to_a_tls_server_fails(self):
        c = self.client(token=secure.tokens["station"])
        with self.assertRaises(EspprovError) as cm:
            await c.scan_wifi(pb.ScanWifiRequest(device=httpd(fleet.devices[0].address), security=SEC2),
                              timeout=CALL_TIMEOUT)
        self.assertEqual(cm.exception.code.name, "UNAVAILABLE", cm.exception)


if __name__ == "__main__":
    unittest.main()
