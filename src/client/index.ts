// `inference-gateway/client`: the typed client of the gateway (gRPC or HTTP, the same calls), its
// error type with the catalog codes, and the message types generated from the protos.
export { type CallOptions, type ClientOptions, DEFAULT_GRPC_ADDRESS, DEFAULT_HTTP_URL, GatewayClient } from './client.js';
export { type ClientErrorCode, GatewayClientError } from './errors.js';
export { type TlsOptions, readTlsFiles } from './grpc-transport.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export type * from './types.js';
