// Addresses formed from a host and a port: an IPv6 literal is bracketed (`[::1]:50051`), as gRPC
// targets, bind addresses and URLs need; names and IPv4 addresses are used as they are.
import { isIPv6 } from 'node:net';

/** The host as it goes before `:port` (an IPv6 literal in brackets). */
export function bracketHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

/** `host:port`, with an IPv6 literal bracketed. */
export function hostPort(host: string, port: number): string {
  return `${bracketHost(host)}:${port}`;
}
