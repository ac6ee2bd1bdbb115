#!/usr/bin/env node
// gateway-cli: a command-line client of the gateway over gRPC or HTTP (no grpcurl needed), built
// on src/client/. `npm run -s cli -- models` from a checkout, or `gateway-cli models` once built
// and linked (package.json "bin"). The command line itself is handled by run.ts.
import { PROGRAM, runCli } from './run.js';

runCli(process.argv.slice(2), process.env, { out: (text) => process.stdout.write(`${text}\n`), err: (text) => process.stderr.write(`${text}\n`), stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${PROGRAM}: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
