// onnxruntime's own usage telemetry, off unless the operator asks for it. onnxruntime-node 1.30 on
// Linux carries Microsoft's 1DS telemetry client: when a process opens its first session it writes
// $TMPDIR/mat-debug-<pid>.log, keeps an event database and a device id under
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime, and looks up mobile.events.data.microsoft.com to
// upload them. A self-hosted gateway should not send anything anywhere its operator did not
// configure, so the gateway sets onnxruntime's switch, ORT_DISABLE_TELEMETRY=1, before its first
// session. onnxruntime reads it once per process, when that session opens ("1" and "true" turn
// telemetry off; "0", "false" or an empty value leave it on). No onnxruntime import here: this runs
// on the main thread before any session worker starts.

const VARIABLE = 'ORT_DISABLE_TELEMETRY';

/** Environments whose ORT_DISABLE_TELEMETRY this module set (as opposed to the operator). */
const setHere = new WeakSet<NodeJS.ProcessEnv>();

/**
 * Turns onnxruntime's telemetry off in `env` unless `allowed` (`--onnxruntime-telemetry`). An
 * ORT_DISABLE_TELEMETRY the operator put in the environment stands either way. Call before the
 * first session opens. Returns what applies, for the startup log.
 */
export function configureOrtTelemetry(allowed: boolean, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[VARIABLE];
  if (value !== undefined && !setHere.has(env)) return `${VARIABLE}=${value} from the environment`;
  if (allowed) {
    if (setHere.has(env)) delete env[VARIABLE];
    setHere.delete(env);
    return 'on';
  }
  env[VARIABLE] = '1';
  setHere.add(env);
  return 'off';
}
