// Polls a condition until it holds or a generous bound passes. Tests wait for states (a request
// queued, a queue drained), never for a fixed sleep: on a loaded 2-core machine a state may take
// seconds to arrive, and the bound only exists so a broken server fails the test instead of hanging it.
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
