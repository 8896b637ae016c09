/**
 * Every finding of the fuzz harness, kept as a regression input in test/fuzz/regressions/<target>-<n>.bin and run
 * by regressions.test.ts against its target.
 *
 * `open` marks a bug not fixed yet: its regression test is skipped (with this reason) and the short fuzz run in
 * fuzz.test.ts tolerates findings whose signature matches `matches`, listing them as pending. Fixing one means:
 * fix the parser, delete `open` here; the regression test then runs, and the short run no longer tolerates it.
 */

export interface KnownFinding {
  /** File under test/fuzz/regressions/. */
  file: string;
  /** Target (test/fuzz/targets.ts) the input is run on. */
  target: string;
  kind: 'crash' | 'hang';
  /** The bug, and what the input is. */
  what: string;
  /** Documented behaviour the regression test asserts: no exception escapes; or the input is parsed within this many ms. */
  maxMs?: number;
  /** Why it is still open (and where the fix goes); absent once fixed. */
  open?: string;
  /** Signatures (run.ts: target|kind|where) of the fuzz findings this bug produces, tolerated while open. */
  matches: RegExp;
}

/** Parsing a 64 KiB input linearly takes a few ms; these bugs take seconds. The bound leaves room for a loaded CI machine. */
const LINEAR_MS = 300;

export const KNOWN_FINDINGS: readonly KnownFinding[] = [
  {
    file: 'html-1.bin',
    target: 'html',
    kind: 'crash',
    what: "htmlToText('&#x' + 256 hex digits): RangeError 'Invalid code point NaN' thrown by entities@6.0.1 decodeHTML (numeric references of >= 256 hex or >= 309 decimal digits overflow to NaN)",
    // fixed in 57a7e43 (was open: plugins/chat/html-text.ts:27 passes body text to decodeHTML unguarded; a chat body must never throw (body.ts contract))
    matches: /^[\w-]+\|RangeError\|(?:html-text|decode)\.[jt]s:\d+$/,
  },
  {
    file: 'chat-body-3.bin',
    target: 'chat-body',
    kind: 'crash',
    what: "decodeTextBody('text/html', '&#364' + 256 'A'): the first fix rewrote a decimal reference in hex ('&#x16c'), so the letters after it read as more hex digits and entities threw RangeError again; references are now rewritten decimal and terminated (found by the 30-minute run, seed 7)",
    matches: /^[\w-]+\|RangeError\|(?:html-text|decode)\.[jt]s:\d+$/,
  },
  {
    file: 'chat-body-1.bin',
    target: 'chat-body',
    kind: 'crash',
    what: "decodeTextBody('text/html', '<p>price &#x' + 300 zeros + '41; ok</p>'): a valid 'A' with leading zeros throws RangeError out of decodeTextBody (same cause as html-1)",
    // fixed in 57a7e43 (was open: same fix as html-1 (html-text.ts:27); body.ts promises never an exception, never a lost message)
    matches: /^[\w-]+\|RangeError\|(?:html-text|decode)\.[jt]s:\d+$/,
  },
  {
    file: 'html-2.bin',
    target: 'html',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "htmlToText('<pre>' + 65536 TABs + 'x</pre>'): quadratic /\\t+\\n/g (html-text.ts:62) over a long run of tabs not followed by a line break, ~3.7 s",
    // fixed in 57a7e43 (was open: html-text.ts:62: replace the regex by a linear scan (or trim tabs per line))
    matches: /\|hang\|.*\bhtmlToText\b/,
  },
  {
    file: 'html-3.bin',
    target: 'html',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "htmlToText('<a ' x 21845): the TOKEN regex (html-text.ts:11, matchAll at :30) rescans to the end of the body from every unterminated tag, ~2.2 s",
    // fixed in 57a7e43 (was open: html-text.ts:11/30: a tag without its > must end the scan once (e.g. a hand-written tokenizer))
    matches: /\|hang\|.*\bhtmlToText\b/,
  },
  {
    file: 'html-4.bin',
    target: 'html',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "htmlToText('<script ' x 8192): HIDDEN /<(script|...)\\b[^>]*>[\\s\\S]*?<\\/\\1\\s*>/ (html-text.ts:10, replace at :21) rescans from every unterminated <script, ~5.8 s",
    // fixed in 57a7e43 (was open: html-text.ts:10/21: same fix as html-3)
    matches: /\|hang\|.*\bhtmlToText\b/,
  },
  {
    file: 'rtf-1.bin',
    target: 'rtf',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "rtfToText('{\\rtf1 ' + 65536 spaces + 'x}'): quadratic trailing-whitespace trim out.replace(/[\\n\\t ]+$/, '') (rtf-text.ts:213), ~4 s",
    // fixed in 57a7e43 (was open: rtf-text.ts:213: trim the end with a loop (or trimEnd plus a check))
    matches: /\|hang\|.*\brtfToText\b/,
  },
  {
    file: 'sip-1.bin',
    target: 'sip',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "parseSipMessage(lenient) of a datagram whose From is 65000 'a' (no ':'): tolerantAddr's salvage regex /[a-zA-Z][\\w+.-]*:[^\\s;,>]+/ (parser.ts:317) is quadratic, ~4 s per 64 KiB datagram; over TCP (SipStreamFramer, maxBuffer 1 MiB) far longer",
    // fixed in 57a7e43 (was open: core/sip/parser.ts:317 (tolerantAddr): find the scheme with a linear scan; the ingest parses every UDP datagram and stream message leniently)
    matches: /\|hang\|.*\btolerantAddr\b/,
  },
  {
    file: 'chat-body-2.bin',
    target: 'chat-body',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "decodeTextBody('text/plain;msgr=' + base64 of 120000 zero bytes + 'x'): decodeMsgr's bytes.toString('utf16le').replace(/\\u0000+$/, '') (body.ts:117) is quadratic, ~2.5 s (found by review of the regexes the fuzzer reaches)",
    // fixed in 57a7e43 (was open: plugins/chat/body.ts:117: strip trailing NULs with a loop)
    matches: /\|hang\|.*\bdecodeMsgr\b/,
  },
  {
    file: 'chat-session-1.bin',
    target: 'chat-session',
    kind: 'hang',
    maxMs: 100,
    what: "a multiparty IM INVITE whose EndPoints header is '<sip:a@x>' + 60000 ',': splitEndPoints split it with a look-ahead regex (quadratic, ~3.6 s; fixed in 57a7e43 with splitList); still ~300 ms now, linear but one parseNameAddr exception (a TaplineError with its stack) per empty element, 5 us per comma (~5 s for a 1 MiB header over TCP)",
    // fixed (was open: plugins/chat/tracker.ts splitEndPoints: skip empty elements before parseNameAddr (the exceptions are 70% of the time); the bound here is 100 ms)
    matches: /^chat-session\|hang\|.*\b(?:splitEndPoints|TaplineError)\b/,
  },
  {
    file: 'chat-session-2.bin',
    target: 'chat-session',
    kind: 'hang',
    maxMs: LINEAR_MS,
    what: "the 200 OK to an IM INVITE carrying its first message (ms-text-format), with 'Supported: ms-sender' + 60000 spaces + 'x': onInviteResponse's supported.split(/\\s*,\\s*/) (tracker.ts:344) is quadratic on a long blank run without a comma, ~3.2 s for this 66 KB session (a 64 KiB datagram ~3 s; over TCP, 1 MiB, minutes). Found by the 5-minute run, seed 42",
    // fixed (was open: plugins/chat/tracker.ts:344: split at "," and trim each element (splitList), or test the joined header with a linear scan)
    matches: /\|hang\|.*\bonInviteResponse\b/,
  },
  {
    file: 'siprec-1.bin',
    target: 'siprec',
    kind: 'crash',
    what: "a recording INVITE whose metadata part the XML validator accepts but the parser refuses ('Pi Tag is not closed'): the error escaped as a plain Error instead of a 400 answer",
    matches: /^siprec\|crash\|.*metadata/,
  },
];

/** The open finding a fuzz finding's signature belongs to, if any. */
export function openFindingFor(signature: string): KnownFinding | undefined {
  return KNOWN_FINDINGS.find((k) => k.open !== undefined && k.matches.test(signature));
}
