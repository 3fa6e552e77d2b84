// Test harness: real espsim devices and a real espprovd on loopback, free
// ports. The binaries come from $ESPPROV_BIN_DIR (make test-clients builds
// them there) or are built once with `go build` into a temporary directory.
// Every process listens on port 0 and the harness reads the addresses it prints.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

// dist/test/harness.js -> the repository root
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const startTimeoutMs = 120_000; // a loaded CI machine may take long to start a binary

let binDirCache: string | undefined;

/** A temporary directory removed when the test process exits. */
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  process.once("exit", () => rmSync(d, { recursive: true, force: true }));
  return d;
}

export function binDir(): string {
  if (binDirCache) return binDirCache;
  const fromEnv = process.env["ESPPROV_BIN_DIR"];
  if (fromEnv) return (binDirCache = fromEnv);
  const d = tempDir("espprov-bin-");
  const go = process.env["GO"] ?? "go";
  execFileSync(go, ["build", "-o", d, "./cmd/espprovd", "./cmd/espsim"], { cwd: repo, stdio: "inherit" });
  return (binDirCache = d);
}

/** A child process whose output lines can be awaited. */
export class Proc {
  readonly log: string[] = [];
  private readonly waiters: { rx: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  private readonly backlog: string[] = [];
  private exited = false;
  private readonly child: ChildProcess;
  private readonly exitPromise: Promise<void>;
  private onExitErr: ((e: Error) => void)[] = [];

  constructor(
    readonly name: string,
    argv: string[],
    env?: Record<string, string>,
  ) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    for (const s of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: s }).on("line", (line) => this.line(line));
    }
    this.exitPromise = new Promise((res) =>
      this.child.on("exit", (code) => {
        this.exited = true;
        for (const f of this.onExitErr) f(new Error(`${name} exited (${code}); output:\n${this.log.join("\n")}`));
        res();
      }),
    );
  }

  private line(line: string): void {
    this.log.push(line);
    const i = this.waiters.findIndex((w) => w.rx.test(line));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(line.match(w!.rx)!);
    } else {
      this.backlog.push(line);
    }
  }

  /** The next output line matching rx (lines already printed count too). */
  expect(rx: RegExp, timeoutMs = startTimeoutMs): Promise<RegExpMatchArray> {
    const i = this.backlog.findIndex((l) => rx.test(l));
    if (i >= 0) {
      const [l] = this.backlog.splice(i, 1);
      return Promise.resolve(l!.match(rx)!);
    }
    return new Promise((res, rej) => {
      if (this.exited) return rej(new Error(`${this.name} exited; output:\n${this.log.join("\n")}`));
      const t = setTimeout(
        () => rej(new Error(`${this.name}: no line matching ${rx} in ${timeoutMs} ms; output:\n${this.log.join("\n")}`)),
        timeoutMs,
      );
      this.onExitErr.push((e) => {
        clearTimeout(t);
        rej(e);
      });
      this.waiters.push({
        rx,
        resolve: (m) => {
          clearTimeout(t);
          res(m);
        },
      });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill("SIGTERM");
    const kill = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.exitPromise;
    clearTimeout(kill);
  }
}

export interface SimDevice {
  name: string;
  address: string;
  nodeId: string;
}

export interface Sim {
  proc: Proc;
  devices: SimDevice[];
  cloudUrl: string;
}

/** espsim with args on ephemeral ports (fleet devices each get one). */
export async function startEspsim(args: string[], devices = 1, cloud = false): Promise<Sim> {
  const argv = [join(binDir(), "espsim"), "--http-listen", "127.0.0.1:0", "--fleet", String(devices), ...args];
  if (cloud) argv.push("--cloud-listen", "127.0.0.1:0");
  const proc = new Proc("espsim", argv);
  try {
    const sim: Sim = { proc, devices: [], cloudUrl: "" };
    if (cloud) sim.cloudUrl = (await proc.expect(/RainMaker cloud on (\S+) /))[1]!;
    for (let i = 0; i < devices; i++) {
      const m = await proc.expect(/^(\S+) listening on (\S+) \(node (\w+),/);
      sim.devices.push({ name: m[1]!, address: m[2]!, nodeId: m[3]! });
    }
    return sim;
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

export interface Server {
  proc: Proc;
  grpc: string;
  http: string;
}

/** espprovd serving gRPC and REST on ephemeral loopback ports. */
export async function startEspprovd(args: string[] = [], env?: Record<string, string>): Promise<Server> {
  const argv = [join(binDir(), "espprovd"), "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", ...args];
  if (!args.includes("--store")) {
    // A job store of its own (one espprovd per SQLite file).
    const store = tempDir("espprovd-jobs-");
    argv.push("--store", join(store, "jobs.db"));
  }
  const proc = new Proc("espprovd", argv, env);
  try {
    // slog text (grpc=ADDR) or JSON ("grpc":"ADDR")
    const m = await proc.expect(/espprovd serving.*?\bgrpc\W+([\w.[\]:-]+:\d+).*?\bhttp\W+([\w.[\]:-]+:\d+)/);
    return { proc, grpc: m[1]!, http: m[2]! };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** espprovd's RainMaker account: the simulated cloud's default account. */
export function rainmakerEnv(cloudUrl: string): Record<string, string> {
  return {
    ESPPROV_RAINMAKER_URL: cloudUrl,
    ESPPROV_RAINMAKER_USER: "maker@example.com",
    ESPPROV_RAINMAKER_PASSWORD: "makerpass",
  };
}

export interface SecureServer extends Server {
  dir: string;
  /** name -> token */
  tokens: Record<string, string>;
  /** PEM of ca.pem or other-ca.pem (a CA that did not sign the server). */
  pem(name: "ca.pem" | "other-ca.pem"): string;
}

/** espprovd over TLS (a throw-away CA) with one token per name -> scopes. */
export async function startSecureEspprovd(scopes: Record<string, string>, env?: Record<string, string>): Promise<SecureServer> {
  const dir = mkdtempSync(join(tmpdir(), "espprovd-tls-"));
  try {
    execFileSync("sh", [join(repo, "clients", "testdata", "mkcerts.sh"), dir], { stdio: "inherit" });
    const file = join(dir, "tokens.yaml");
    const tokens: Record<string, string> = {};
    for (const [name, sc] of Object.entries(scopes)) {
      const out = execFileSync(join(binDir(), "espprovd"), ["token", "create", "--file", file, "--name", name, "--scopes", sc], {
        encoding: "utf8",
      });
      tokens[name] = out.trim().split("\n").at(-1)!; // the token alone on the last line
    }
    const srv = await startEspprovd(
      ["--auth-tokens", file, "--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key")],
      env,
    );
    return { ...srv, dir, tokens, pem: (name) => readFileSync(join(dir, name), "utf8") };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
