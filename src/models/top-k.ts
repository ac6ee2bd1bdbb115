// The k best of a score vector without sorting all of it: classifier answers (top_k of every
// class) and label sets (top_k of up to 20,000 labels) both pick this way.

/** Indices of the `k` largest values, largest first (ties: lower index first), via a k-sized min-heap. */
export function topKIndices(values: Float32Array | readonly number[], k: number): number[] {
  if (k <= 0) return [];
  // heap[0] is the worst kept entry; "worse" = smaller value, or equal value and higher index.
  const heap: number[] = [];
  const worse = (a: number, b: number): boolean => values[a]! < values[b]! || (values[a] === values[b] && a > b);
  const siftDown = (at: number): void => {
    for (;;) {
      const l = 2 * at + 1;
      const r = l + 1;
      let m = at;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === at) return;
      [heap[at], heap[m]] = [heap[m]!, heap[at]!];
      at = m;
    }
  };
  for (let i = 0; i < values.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0; ) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c]!, heap[p]!)) break;
        [heap[c], heap[p]] = [heap[p]!, heap[c]!];
        c = p;
      }
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  // k entries only: sorting them is O(k log k).
  return heap.sort((a, b) => values[b]! - values[a]! || a - b);
}
