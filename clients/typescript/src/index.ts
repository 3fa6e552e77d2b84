// @espprov/client: the generated espprov.v1 API (messages and the
// ProvisioningService descriptor) plus a small hand-written layer: a client
// with token and TLS options, Provision as an async iterable that can be
// cancelled, and EspprovError classified like the espprov CLI's exit codes.
export * from "./gen/espprov/v1/espprov_pb.js";
export { type ClientOptions, EspprovClient, ProvisionStream } from "./client.js";
export { classify, ErrorClass, EspprovError, exitCode, isWifiResult } from "./errors.js";
export { create } from "@bufbuild/protobuf";
export { Code } from "@connectrpc/connect";
