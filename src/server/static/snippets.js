// The playground's request written as commands a user can paste: curl against the HTTP API, and
// gRPC with the project's CLI (gateway-cli) and with grpcurl. Pure functions of the request the
// page sent, so the snippet is that exact request.

/**
 * @typedef {object} PlaygroundRequest
 * @property {'classify' | 'zero-shot'} call
 * @property {string} path            HTTP path, e.g. /v1/classify
 * @property {[string, string][]} fields  form fields in the order sent (the image excluded)
 * @property {string} file            the image as a path the user has (a sample's repository path, or the picked file's name)
 * @property {boolean} withKey        an API key was sent
 */

/** A shell word: single-quoted unless it is plainly safe. */
export function shellQuote(text) {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** curl with the same multipart body: --form-string keeps values literal (curl reads "@", "<" and ";type=" in -F values). */
export function curlCommand(request, origin) {
  const lines = [`curl -s ${shellQuote(origin + request.path)}`];
  if (request.withKey) lines.push(`-H "authorization: Bearer $GATEWAY_API_KEY"`);
  lines.push(`-F ${shellQuote(`image=@${request.file}`)}`);
  for (const [name, value] of request.fields) lines.push(`--form-string ${shellQuote(`${name}=${value}`)}`);
  return lines.join(' \\\n  ');
}

/** Form fields -> the gRPC request message's fields (protobuf JSON names), as the server reads the form. */
export function grpcMessage(request) {
  const message = {};
  const templates = [];
  for (const [name, value] of request.fields) {
    if (name === 'labels') message.labels = value.split(',').map((l) => l.trim()).filter((l) => l !== '');
    else if (name === 'templates' || name === 'template') templates.push(value);
    else if (name === 'top_k') message.top_k = Number(value);
    else if (name === 'multi_label') message.multi_label = value === 'true';
    else message[name] = value;
  }
  if (templates.length > 0) message.templates = templates;
  return message;
}

/** The CLI's command line for the same call (gateway-cli speaks gRPC). */
export function cliCommand(request, grpcAddress) {
  const m = grpcMessage(request);
  const words = ['npx', 'gateway-cli', '--address', grpcAddress];
  if (request.withKey) words.push('--api-key', '"$GATEWAY_API_KEY"');
  words.push(request.call, shellQuote(request.file), '--model', shellQuote(m.model ?? ''));
  if (m.version) words.push('--version', shellQuote(m.version));
  if (m.label_set) words.push('--label-set', shellQuote(m.label_set));
  if (m.labels) words.push('--labels', shellQuote(m.labels.join(',')));
  for (const t of m.templates ?? []) words.push('--template', shellQuote(t));
  if (m.top_k) words.push('--top-k', String(m.top_k));
  if (m.multi_label) words.push('--multi-label');
  return words.join(' ');
}

/** grpcurl with the message as JSON on stdin; the image is base64-encoded by the shell. */
export function grpcurlCommand(request, grpcAddress, tls) {
  const method = request.call === 'classify' ? 'Classify' : 'ZeroShotClassify';
  const placeholder = '@@image-base64@@';
  // An unquoted heredoc expands $(...) for the image; escape what else it would expand.
  const json = JSON.stringify({ ...grpcMessage(request), image: placeholder })
    .replace(/[\\$`]/g, (c) => `\\${c}`)
    .replace(JSON.stringify(placeholder), () => `"$(base64 -w0 ${shellQuote(request.file)})"`);
  const head = ['grpcurl', tls ? '' : '-plaintext', request.withKey ? `-H "authorization: Bearer $GATEWAY_API_KEY"` : '', '-d @', grpcAddress, `gateway.v1.InferenceGateway/${method}`];
  return `${head.filter(Boolean).join(' ')} <<EOF\n${json}\nEOF`;
}
