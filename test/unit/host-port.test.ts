// hostPort: IPv6 literals bracketed in host:port addresses, names and IPv4 left as they are.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostPort } from '../../src/server/host-port.js';

describe('hostPort', () => {
  const cases: [string, string][] = [
    ['::1', '[::1]:50051'],
    ['::', '[::]:50051'],
    ['fd00::5', '[fd00::5]:50051'],
    ['[::1]', '[::1]:50051'],
    ['127.0.0.1', '127.0.0.1:50051'],
    ['0.0.0.0', '0.0.0.0:50051'],
    ['localhost', 'localhost:50051'],
  ];
  for (const [host, expected] of cases) it(`${host} -> ${expected}`, () => assert.equal(hostPort(host, 50051), expected));
});
