// Runs a task per item with at most `concurrency` in flight, so a folder of thousands of images
// keeps the gateway's batcher fed without opening thousands of calls at once.

/** Calls `task` on every item, `concurrency` at a time; resolves when all have settled. */
export async function forEachConcurrent<T>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}
