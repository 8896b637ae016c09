/**
 * "Did you mean …?": the closest candidate to a misspelt word, by edit distance ignoring case, offered only when
 * it is close enough that the suggestion is more likely right than noise.
 */

/** Optimal-string-alignment distance: Levenshtein plus swapping two neighbours ("recieve") as one edit. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows: the transposition step looks two rows back.
  let prev2 = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[b.length];
}

/** Edits tolerated for a word of this length: one for short words, about a third of the letters for long ones. */
function tolerance(length: number): number {
  if (length <= 3) return 1;
  if (length <= 6) return 2;
  return Math.min(4, Math.floor(length / 3));
}

/** A typed word that starts the candidate, or the other way round ("warning" for "warn"), is a likely slip too. */
function sharesPrefix(a: string, b: string): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length >= 3 && long.startsWith(short);
}

/**
 * The candidate closest to `word` (case-insensitive), or undefined when none is close enough. Ties go to the
 * earlier candidate. An exact match is not a suggestion (the caller asked because the word was refused).
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const lc = c.toLowerCase();
    const d = editDistance(w, lc);
    if (d < bestDistance && (d <= tolerance(w.length) || sharesPrefix(w, lc))) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * A plugin name from a short or misspelt one: "codec-g771" → "codec-g711", "pcap" → "source-pcap"
 * (the only built-in ending in "-pcap").
 */
export function closestPluginName(use: string, builtins: readonly string[]): string | undefined {
  const near = closest(use, builtins);
  if (near !== undefined) return near;
  const suffix = `-${use.toLowerCase()}`;
  const bySuffix = builtins.filter((b) => b.toLowerCase().endsWith(suffix));
  return bySuffix.length === 1 ? bySuffix[0] : undefined;
}
