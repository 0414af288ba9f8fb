// Reads the exact source text of top-level members of a JSON object (and of the elements of a top-level array
// member, e.g. Huawei's `feeLst`), so records land in the raw topics byte-for-byte as the vendor wrote them: number
// formatting, escapes, key order and 64-bit ids (which JSON.parse would round) all survive. Only called on text that
// JSON.parse has already accepted, so malformed input needs no error paths beyond returning undefined.

/** Raw text of each top-level member's value; undefined when the document is not an object. Last duplicate wins. */
export function rawMembers(text: string): Map<string, string> | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipWs(text, i + 1);
  const members = new Map<string, string>();
  while (i < text.length && text[i] !== '}') {
    if (text[i] !== '"') return undefined;
    const keyEnd = skipString(text, i);
    // A name without escapes is its own text: JSON.parse only for the rare escaped one (LVMS keys every record here).
    const rawKey = text.slice(i + 1, keyEnd - 1);
    const key = rawKey.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : rawKey;
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') return undefined;
    i = skipWs(text, i + 1);
    const valueEnd = skipValue(text, i);
    members.set(key, text.slice(i, valueEnd));
    i = skipWs(text, valueEnd);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return members;
}

/** Raw text of each element of the top-level array member `member`; undefined when absent or not an array. */
export function rawArrayElements(text: string, member: string): string[] | undefined {
  const raw = rawMembers(text)?.get(member);
  if (raw === undefined || raw[0] !== '[') return undefined;
  return elementsOf(raw, 0);
}

function elementsOf(text: string, arrayStart: number): string[] {
  const out: string[] = [];
  let i = skipWs(text, arrayStart + 1);
  while (text[i] !== ']') {
    const end = skipValue(text, i);
    out.push(text.slice(i, end));
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return out;
}

function skipWs(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Index after the closing quote of the string opening at `i` (found with indexOf: strings are most of the text). */
export function skipString(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length;
    // Escaped when an odd number of backslashes precede it.
    let backslashes = 0;
    for (let j = q - 1; j > i && text.charCodeAt(j) === 0x5c; j--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    from = q + 1;
  }
}

function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22 /* " */) return skipString(text, i);
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    let depth = 0;
    while (i < text.length) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        i = skipString(text, i);
        continue;
      }
      if (ch === 0x7b || ch === 0x5b) depth++;
      else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  // number, true, false, null: up to the next delimiter or whitespace
  while (i < text.length && !isDelimiter(text.charCodeAt(i))) i++;
  return i;
}

const isDelimiter = (c: number) => c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
