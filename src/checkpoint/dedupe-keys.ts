// The dedupe window's keys: a 64-bit hash of an event's (auditID, stage), written as 16 lowercase
// hex digits wherever a key is a string (the saved window, DedupeWindow.snapshot, dedupeKey).
//
// What is hashed is the text the previous versions used as the key itself, `${auditID}#${code}`
// (code: the stage's one-digit code, src/pipeline/dedupe.ts), so a window saved by such a version
// loads into the same hashes: readDedupeKey hashes any key that is not 16 hex digits.
//
// Collisions. Two distinct keys share a hash with probability 2^-64 for a hash that behaves
// randomly on these inputs (test/pipeline/dedupe.test.ts checks it on sequential and random IDs).
// A collision means an event wrongly dropped as a duplicate of another one. With n keys in a window
// (process.dedupe.maxKeys, 500,000 by default):
//   - the chance that any two of the n keys collide is at most n(n-1)/2 / 2^64 ≈ n²/2^65,
//     6.8e-9 for 500,000;
//   - the chance that one new event is wrongly dropped is at most n/2^64, 2.7e-14 for 500,000; over
//     N events the expected number wrongly dropped is at most N·n/2^64: 10,000 events/s for a year
//     against a full window gives about 0.009.
// The hash is not keyed, and needs not be: a client chooses its own auditID (kube-apiserver takes it
// from the request's Audit-ID header), so it can make an event repeat an earlier key exactly,
// which no key scheme can tell from a real duplicate; a crafted collision adds nothing to that.
//
// The function (cyrb53's two 32-bit multiply lanes over UTF-16 code units and its final cross-mix,
// kept at 64 bits) is part of the saved format: changing it makes saved windows forget their keys.

/** Characters of a key as text. */
export const DEDUPE_KEY_LENGTH = 16;

const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) NIBBLE[HEX_CODES[i]!] = i;

/**
 * Hashes `text`, then the code units `tailA` and `tailB` when they are not negative (so that
 * dedupeKey hashes `${auditID}#${code}` without building that string), into out[at], out[at + 1]
 * (high, low 32 bits). (0, 0) is the window's mark of a forgotten slot: that hash becomes (0, 1).
 */
export function hashDedupeKey(text: string, out: Uint32Array, at: number, tailA = -1, tailB = -1): void {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  if (tailA >= 0) {
    h1 = Math.imul(h1 ^ tailA, 2654435761);
    h2 = Math.imul(h2 ^ tailA, 1597334677);
  }
  if (tailB >= 0) {
    h1 = Math.imul(h1 ^ tailB, 2654435761);
    h2 = Math.imul(h2 ^ tailB, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out[at] = h2;
  out[at + 1] = h1 === 0 && h2 === 0 ? 1 : h1;
}

/**
 * A key as text → its 64 bits in out[at], out[at + 1]: 16 lowercase hex digits are the hash itself;
 * anything else (a key saved by a version that kept `auditID#code` strings, or a test's 'k') is hashed.
 */
export function readDedupeKey(key: string, out: Uint32Array, at: number): void {
  if (key.length === DEDUPE_KEY_LENGTH) {
    let hi = 0;
    let lo = 0;
    let ok = true;
    for (let i = 0; i < 16; i++) {
      const c = key.charCodeAt(i);
      const v = c < 128 ? NIBBLE[c]! : -1;
      if (v < 0) {
        ok = false;
        break;
      }
      if (i < 8) hi = (hi << 4) | v;
      else lo = (lo << 4) | v;
    }
    if (ok && (hi !== 0 || lo !== 0)) {
      out[at] = hi;
      out[at + 1] = lo;
      return;
    }
  }
  hashDedupeKey(key, out, at);
}

/** 64 bits → the key's text. */
export function dedupeKeyText(hi: number, lo: number): string {
  return String.fromCharCode(
    HEX_CODES[(hi >>> 28) & 15]!, HEX_CODES[(hi >>> 24) & 15]!, HEX_CODES[(hi >>> 20) & 15]!, HEX_CODES[(hi >>> 16) & 15]!,
    HEX_CODES[(hi >>> 12) & 15]!, HEX_CODES[(hi >>> 8) & 15]!, HEX_CODES[(hi >>> 4) & 15]!, HEX_CODES[hi & 15]!,
    HEX_CODES[(lo >>> 28) & 15]!, HEX_CODES[(lo >>> 24) & 15]!, HEX_CODES[(lo >>> 20) & 15]!, HEX_CODES[(lo >>> 16) & 15]!,
    HEX_CODES[(lo >>> 12) & 15]!, HEX_CODES[(lo >>> 8) & 15]!, HEX_CODES[(lo >>> 4) & 15]!, HEX_CODES[lo & 15]!,
  );
}

const one = new Uint32Array(2);

/** A key as the window and the saved file hold it: 16 hex digits, whatever form it came in. */
export function canonicalDedupeKey(key: string): string {
  readDedupeKey(key, one, 0);
  return dedupeKeyText(one[0]!, one[1]!);
}

/** Writes the key's 16 hex digits into `buf` at `pos` (ASCII), for the saved window; returns the end. */
export function writeDedupeKey(buf: Uint8Array, pos: number, hi: number, lo: number): number {
  for (let shift = 28; shift >= 0; shift -= 4) buf[pos++] = HEX_CODES[(hi >>> shift) & 15]!;
  for (let shift = 28; shift >= 0; shift -= 4) buf[pos++] = HEX_CODES[(lo >>> shift) & 15]!;
  return pos;
}

/** Keys as text → packed 64-bit keys (two words each), in order. */
export function packDedupeKeys(keys: readonly string[]): Uint32Array {
  const packed = new Uint32Array(keys.length * 2);
  for (let i = 0; i < keys.length; i++) readDedupeKey(keys[i]!, packed, i * 2);
  return packed;
}

/** Packed keys → text, in order. */
export function unpackDedupeKeys(packed: Uint32Array): string[] {
  const out = new Array<string>(packed.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = dedupeKeyText(packed[i * 2]!, packed[i * 2 + 1]!);
  return out;
}
