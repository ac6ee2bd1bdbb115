// Prints the SHA-256 of an API key for the gateway's keys file: npm run hash-key -- <key>
import { hashApiKey } from '../src/server/auth.js';

const key = process.argv[2];
if (!key) {
  console.error('usage: npm run hash-key -- <api key>');
  process.exit(2);
}
console.log(hashApiKey(key));
