#!/usr/bin/env node
// gateway-cli: a command-line client of the gateway's gRPC API (no grpcurl needed), built on
// src/client/. `npm run -s cli -- models` from a checkout, or `gateway-cli models` once built and
// linked (package.json "bin"). The command line itself is handled by run.ts.
import { PROGRAM, runCli } from './run.js';

runCli(process.argv.slice(2), process.env, (text) => process.stdout.write(`${text}\n`), (text) => process.stderr.write(`${text}\n`)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${PROGRAM}: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
