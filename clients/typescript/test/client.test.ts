// The TypeScript client against a real espprovd and espsim devices on loopback.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  type ClientOptions,
  Code,
  ErrorClass,
  EspprovClient,
  EspprovError,
  type ProvisionResponse,
  SecurityScheme,
  Step,
  Transport,
  WifiFailReason,
  WifiStationState,
} from "../src/index.js";
import {
  rainmakerEnv,
  type SecureServer,
  type Server,
  type Sim,
  startEspprovd,
  startEspsim,
  startSecureEspprovd,
} from "./harness.js";

const ssid = "HomeNet";
const pass = "secret-pass";
const sec2 = { sec2Username: "wifiprov", sec2Password: "abcd1234" };
// Fast polls: the simulated devices join in 50 ms.
const fast = { statusPoll: { nanos: 20_000_000 }, overall: { seconds: 120n } };
const callOpts = { timeoutMs: 120_000 };

let fleet: Sim, slow: Sim, sec1: Sim, server: Server, secure: SecureServer;
let client: EspprovClient;
let next = 1; // device 0: Discover, ScanWifi and the Wi-Fi failure (which resets it)
/** A fresh fleet device (a simulated device stops provisioning after success). */
const nextDevice = () => fleet.devices[next++]!;
const httpd = (address: string) => ({ transport: Transport.HTTPD, address });
const provisionRequest = (address: string, security: object = sec2, passphrase = pass) => ({
  device: httpd(address),
  security,
  wifi: { ssid, passphrase },
  timeouts: fast,
});

async function expectError(p: Promise<unknown>): Promise<EspprovError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EspprovError, `want EspprovError, got ${err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

async function drain(it: AsyncIterable<ProvisionResponse>): Promise<ProvisionResponse[]> {
  const out: ProvisionResponse[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

describe("EspprovClient against espprovd + espsim", { timeout: 600_000 }, () => {
  before(async () => {
    const started: { proc: { stop(): Promise<void> } }[] = [];
    try {
      // Security 2 RainMaker (challenge-response) devices and the simulated cloud.
      fleet = await startEspsim(["--ap", `${ssid}:${pass}`, "--connect-delay", "50ms", "--rainmaker", "chal-resp"], 8, true);
      started.push(fleet);
      // Devices that take an hour to join Wi-Fi: a call is still running when cancelled.
      slow = await startEspsim(["--ap", `${ssid}:${pass}`, "--connect-delay", "1h"], 2);
      started.push(slow);
      sec1 = await startEspsim(["--ap", `${ssid}:${pass}`, "--sec-ver", "1", "--pop", "pop-1234"]);
      started.push(sec1);
      server = await startEspprovd([], rainmakerEnv(fleet.cloudUrl));
      started.push(server);
      // TLS and tokens: "station" may do everything, "viewer" only discover.
      secure = await startSecureEspprovd({ station: "discover,provision,map", viewer: "discover" }, rainmakerEnv(fleet.cloudUrl));
    } catch (err) {
      await Promise.all(started.map((s) => s.proc.stop()));
      throw err;
    }
    client = new EspprovClient({ address: server.grpc });
  });

  after(async () => {
    client?.close();
    await Promise.all([secure, server, fleet, slow, sec1].filter((s) => s).map((s) => s.proc.stop()));
    if (secure) rmSync(secure.dir, { recursive: true, force: true });
  });

  test("Discover probes the device", async () => {
    const d = fleet.devices[0]!;
    const found = await client.discover({ device: httpd(d.address), timeout: { seconds: 20n } }, callOpts);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.address, d.address);
    assert.equal(found[0]!.security, SecurityScheme.SECURITY_SCHEME_2);
  });

  test("ScanWifi lists the simulated network", async () => {
    const res = await client.scanWifi({ device: httpd(fleet.devices[0]!.address), security: sec2, timeouts: fast }, callOpts);
    assert.ok(res.accessPoints.some((ap) => ap.ssid === ssid), JSON.stringify(res.accessPoints.map((a) => a.ssid)));
  });

  test("Provision streams progress to success", async () => {
    const stream = client.provision(provisionRequest(nextDevice().address), callOpts);
    const events = await drain(stream);
    const steps = events.map((e) => e.step);
    for (const s of [Step.CONNECTING, Step.SESSION_ESTABLISHED, Step.CREDENTIALS_SENT, Step.RESULT]) {
      assert.ok(steps.includes(s), `missing ${Step[s]} in ${steps.map((x) => Step[x])}`);
    }
    assert.equal(steps.at(-1), Step.RESULT);
    assert.ok(events.some((e) => e.wifiState?.state === WifiStationState.CONNECTED));
    assert.equal(stream.result?.success, true);
    assert.notEqual(stream.result?.ip4Address, "");
  });

  test("a wrong PoP is a credentials error", async () => {
    const bad = { scheme: SecurityScheme.SECURITY_SCHEME_1, pop: "not-the-pop" };
    const e = await expectError(drain(client.provision(provisionRequest(sec1.devices[0]!.address, bad), callOpts)));
    assert.equal(e.errorClass, ErrorClass.Credentials, e.message);
    assert.equal(e.exitCode, 4);
    assert.ok(!e.message.includes("not-the-pop"));
  });

  test("a wrong passphrase is a Wi-Fi error", async () => {
    const req = provisionRequest(fleet.devices[0]!.address, sec2, "wrong-pass");
    const e = await expectError(drain(client.provision(req, callOpts)));
    assert.equal(e.errorClass, ErrorClass.Wifi, e.message);
    assert.equal(e.exitCode, 5);
    assert.equal(e.result?.failReason, WifiFailReason.AUTH_ERROR);
  });

  test("an unreachable device is a device error, retryable", async () => {
    const e = await expectError(client.scanWifi({ device: httpd("127.0.0.1:1"), security: sec2, timeouts: fast }, callOpts));
    assert.equal(e.errorClass, ErrorClass.Device, e.message);
    assert.ok(e.retryable);
  });

  test("cancel() mid-stream ends the call", async () => {
    const stream = client.provision(provisionRequest(slow.devices[0]!.address), callOpts);
    const seen: Step[] = [];
    const e = await expectError(
      (async () => {
        for await (const ev of stream) {
          seen.push(ev.step);
          if (ev.step === Step.CONFIG_APPLIED) stream.cancel(); // the device would take an hour
        }
      })(),
    );
    assert.ok(seen.includes(Step.CONFIG_APPLIED));
    assert.ok(!seen.includes(Step.RESULT));
    assert.equal(e.errorClass, ErrorClass.Cancelled);
  });

  test("break cancels the call and frees the device", async () => {
    const d = slow.devices[1]!;
    for await (const ev of client.provision(provisionRequest(d.address), callOpts)) {
      if (ev.step === Step.CONFIG_APPLIED) break;
    }
    // The server frees the device once it sees the cancel: a new call is
    // not refused as busy (ABORTED).
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await client.discover({ device: httpd(d.address), timeout: { seconds: 5n } }, callOpts);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  test("MapNode maps the node in the simulated cloud", async () => {
    const d = nextDevice();
    const res = await client.mapNode({ device: httpd(d.address), security: sec2, mapping: { enabled: true }, timeouts: fast }, callOpts);
    assert.equal(res.nodeId, d.nodeId);
    assert.notEqual(res.requestId, "");
  });

  describe("espprovd with tokens and TLS", () => {
    const scan = (c: EspprovClient) =>
      c.scanWifi({ device: httpd(fleet.devices[0]!.address), security: sec2, timeouts: fast }, callOpts);
    const withClient = async <T>(opts: Omit<ClientOptions, "address">, f: (c: EspprovClient) => Promise<T>) => {
      const c = new EspprovClient({ address: secure.grpc, ...opts });
      try {
        return await f(c);
      } finally {
        c.close();
      }
    };

    test("token and CA: Provision and MapNode", () =>
      withClient({ token: secure.tokens["station"]!, ca: secure.pem("ca.pem") }, async (c) => {
        const events = await drain(c.provision(provisionRequest(nextDevice().address), callOpts));
        assert.equal(events.at(-1)?.result?.success, true);
        const d = nextDevice();
        const res = await c.mapNode({ device: httpd(d.address), security: sec2, mapping: { enabled: true }, timeouts: fast }, callOpts);
        assert.equal(res.nodeId, d.nodeId);
      }));

    test("no token is an access error", () =>
      withClient({ ca: secure.pem("ca.pem") }, async (c) => {
        const e = await expectError(scan(c));
        assert.equal(e.code, Code.Unauthenticated);
        assert.equal(e.errorClass, ErrorClass.Access, e.message);
      }));

    test("a wrong token is an access error", () =>
      withClient({ token: "not-a-token", ca: secure.pem("ca.pem") }, async (c) => {
        const e = await expectError(scan(c));
        assert.equal(e.errorClass, ErrorClass.Access, e.message);
        assert.ok(!e.message.includes("not-a-token"));
      }));

    test("a token without the provision scope is an access error", () =>
      withClient({ token: secure.tokens["viewer"]!, ca: secure.pem("ca.pem") }, async (c) => {
        assert.ok((await scan(c)).accessPoints.length > 0); // discover scope: allowed
        const e = await expectError(drain(c.provision(provisionRequest(fleet.devices[0]!.address), callOpts)));
        assert.equal(e.code, Code.PermissionDenied);
        assert.equal(e.errorClass, ErrorClass.Access, e.message);
      }));

    test("plaintext to a TLS server fails", () =>
      withClient({ token: secure.tokens["station"]! }, async (c) => {
        const e = await expectError(scan(c));
        assert.equal(e.code, Code.Unavailable, `${Code[e.code]}: ${e.message}`);
      }));

    test("a server not signed by the CA is refused", () =>
      withClient({ token: secure.tokens["station"]!, ca: secure.pem("other-ca.pem") }, async (c) => {
        const e = await expectError(scan(c)); // Node's TLS check: "unable to verify the first certificate"
        assert.match(e.message, /certificate/);
        assert.equal(e.code, Code.Unavailable, e.message); // as gRPC and the Python client say
      }));
  });
});
