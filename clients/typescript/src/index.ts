// @espprov/client: the generated espprov.v1 API (messages and the
// ProvisioningService descriptor) plus a small hand-written layer.
export * from "./gen/espprov/v1/espprov_pb.js";
