// EspprovClient: the generated ProvisioningService over Connect's gRPC
// transport (HTTP/2 straight to espprovd's gRPC port), with typed errors,
// cancellable progress streams and espprovd's token and TLS options.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type CallOptions, type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { SecureClientSessionOptions } from "node:http2";
import {
  type DisableChallengeResponseRequestSchema,
  type DisableChallengeResponseResponse,
  type DiscoverRequestSchema,
  type DiscoverResponse,
  type MapNodeRequestSchema,
  type MapNodeResponse,
  type ProvisionRequestSchema,
  type ProvisionResponse,
  ProvisioningService,
  type Result,
  type ScanWifiRequestSchema,
  type ScanWifiResponse,
  Transport,
} from "./gen/espprov/v1/espprov_pb.js";
import { EspprovError } from "./errors.js";

export interface ClientOptions {
  /** espprovd's gRPC address, host:port. */
  address: string;
  /** Sent as `authorization: Bearer <token>` with every call. */
  token?: string;
  /** CA certificate(s), PEM; switches to TLS. */
  ca?: string | Buffer;
  /** TLS with the system's roots (implied by ca, cert). */
  tls?: boolean;
  /** The name checked in the server's certificate (default: the host). */
  serverName?: string;
  /** Client certificate and key, PEM (mutual TLS). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Metadata sent with every call (e.g. x-rainmaker-refresh-token). */
  headers?: Record<string, string>;
}


/** The progress events of one Provision call; `break` or cancel() stops it. */
export class ProvisionStream implements AsyncIterable<ProvisionResponse> {
  /** The last Result event received. */
  result?: Result;
  private readonly abort = new AbortController();
  private started = false;

  constructor(
    private readonly open: (signal: AbortSignal) => AsyncIterable<ProvisionResponse>,
    private readonly mapping: boolean,
    outer?: AbortSignal,
  ) {
    if (outer) {
      if (outer.aborted) this.abort.abort(outer.reason);
      else outer.addEventListener("abort", () => this.abort.abort(outer.reason), { once: true });
    }
  }

  /** Stop the call; the iteration ends with an EspprovError of class Cancelled. */
  cancel(): void {
    this.abort.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ProvisionResponse> {
    if (this.started) throw new Error("a ProvisionStream can be iterated once");
    this.started = true;
    const it = this.open(this.abort.signal)[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        if (r.value.result) this.result = r.value.result;
        yield r.value;
      }
      done = true;
    } catch (err) {
      done = true;
      throw EspprovError.from(err, this.result, this.mapping, this.abort.signal.aborted);
    } finally {
      if (!done) {
        // The caller left the loop (break, return, throw): cancel the call and
        // read it to its end, which is how Connect releases the call's
        // resources (its stream iterator has no return()).
        this.abort.abort();
        try {
          while (!(await it.next()).done);
        } catch {
          // Canceled, as asked.
        }
      }
    }
  }
}

/** A client of espprovd. */
export class EspprovClient {
  /** The generated Connect client, for anything this layer does not cover. */
  readonly raw: Client<typeof ProvisioningService>;
  private readonly sessions: Http2SessionManager;

  constructor(opts: ClientOptions) {
    const secure = opts.tls === true || opts.ca !== undefined || opts.cert !== undefined;
    const baseUrl = `${secure ? "https" : "http"}://${opts.address}`;
    const nodeOptions: SecureClientSessionOptions = {};
    if (opts.ca !== undefined) nodeOptions.ca = opts.ca;
    if (opts.cert !== undefined) nodeOptions.cert = opts.cert;
    if (opts.key !== undefined) nodeOptions.key = opts.key;
    if (opts.serverName !== undefined) nodeOptions.servername = opts.serverName;
    this.sessions = new Http2SessionManager(baseUrl, {}, nodeOptions);
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers["authorization"] = `Bearer ${opts.token}`;
    const addHeaders: Interceptor = (next) => (req) => {
      for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
      return next(req);
    };
    const transport = createGrpcTransport({ baseUrl, sessionManager: this.sessions, interceptors: [addHeaders] });
    this.raw = createClient(ProvisioningService, transport);
  }

  /** Every device found over req.device.transport within req.timeout. */
  async discover(req: MessageInitShape<typeof DiscoverRequestSchema>, opts?: CallOptions): Promise<DiscoverResponse[]> {
    const out: DiscoverResponse[] = [];
    try {
      for await (const d of this.raw.discover(req, opts)) out.push(d);
    } catch (err) {
      throw EspprovError.from(err, undefined, false, opts?.signal?.aborted);
    }
    return out;
  }

  async scanWifi(req: MessageInitShape<typeof ScanWifiRequestSchema>, opts?: CallOptions): Promise<ScanWifiResponse> {
    try {
      return await this.raw.scanWifi(req, opts);
    } catch (err) {
      throw EspprovError.from(err, undefined, false, opts?.signal?.aborted);
    }
  }

  /** Start provisioning; iterate the stream with `for await` for the progress events. */
  provision(req: MessageInitShape<typeof ProvisionRequestSchema>, opts?: CallOptions): ProvisionStream {
    const mapping =
      req.mapping?.enabled === true || req.noWifi === true || req.device?.transport === Transport.ON_NETWORK;
    return new ProvisionStream((signal) => this.raw.provision(req, { ...opts, signal }), mapping, opts?.signal);
  }

  async mapNode(req: MessageInitShape<typeof MapNodeRequestSchema>, opts?: CallOptions): Promise<MapNodeResponse> {
    try {
      return await this.raw.mapNode(req, opts);
    } catch (err) {
      throw EspprovError.from(err, undefined, true, opts?.signal?.aborted);
    }
  }

  async disableChallengeResponse(
    req: MessageInitShape<typeof DisableChallengeResponseRequestSchema>,
    opts?: CallOptions,
  ): Promise<DisableChallengeResponseResponse> {
    try {
      return await this.raw.disableChallengeResponse(req, opts);
    } catch (err) {
      throw EspprovError.from(err, undefined, false, opts?.signal?.aborted);
    }
  }

  /** Close the HTTP/2 connection (running calls fail). */
  close(): void {
    this.sessions.abort();
  }
}
