// The page hashes behind the state check and the memory digest (src/vm/digest.ts): the
// state check's fast four-chain hash must notice any single changed word wherever it is
// in a page, and the memory digest, now refreshed lazily from the pages marked stale,
// must give exactly what a digest of the same memory computed from scratch gives.
import { describe, expect, it } from "vitest";
import { hashPageFast, memDigest, stateWord } from "../src/vm/digest.js";
import { Machine, PAGE_BYTES, PAGE_SHIFT } from "../src/vm/machine.js";
import { assemble } from "../src/asm/assembler.js";

const WORDS = PAGE_BYTES / 4;

function machine(memBytes = 256 * 1024): Machine {
  return new Machine(assemble("HALT\n", "t.s"), { memBytes, stackBytes: 1024 });
}

/** Writes one byte as the engines do: the byte, and its page marked stored to. */
function store(m: Machine, addr: number, value: number): void {
  m.mem[addr] = value;
  m.dirty[addr >>> PAGE_SHIFT] = 1;
}

describe("the state check's fast page hash", () => {
  it("changes when any one word of a page changes, in every lane", () => {
    const words = new Int32Array(WORDS * 2);
    for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 0x9e3779b1);
    const base = hashPageFast(words, WORDS, 2 * WORDS, 1);
    const seen = new Set<number>([base]);
    for (let i = WORDS; i < 2 * WORDS; i++) {
      const old = words[i];
      words[i] ^= 1 << i % 32;
      const h = hashPageFast(words, WORDS, 2 * WORDS, 1);
      expect(h, `word ${i - WORDS}`).not.toBe(base);
      seen.add(h);
      words[i] = old;
    }
    // No two single-bit changes gave the same hash either (4,096 hashes of 32 bits).
    expect(seen.size).toBe(WORDS + 1);
    expect(hashPageFast(words, WORDS, 2 * WORDS, 1)).toBe(base);
  });

  it("tells apart the same content at two page numbers, and a swap of two lanes' words", () => {
    const words = new Int32Array(WORDS);
    for (let i = 0; i < WORDS; i++) words[i] = i * 7 + 1;
    expect(hashPageFast(words, 0, WORDS, 3)).not.toBe(hashPageFast(words, 0, WORDS, 4));
    const swapped = words.slice();
    [swapped[0], swapped[1]] = [swapped[1], swapped[0]];
    expect(hashPageFast(swapped, 0, WORDS, 3)).not.toBe(hashPageFast(words, 0, WORDS, 3));
  });

  it("a stored byte moves stateWord's memory part, and storing the old value back restores it", () => {
    const m = machine();
    const before = stateWord(m, true);
    store(m, 5 * PAGE_BYTES + 123, 0x5a);
    const changed = stateWord(m, true);
    expect(changed).not.toBe(before);
    store(m, 5 * PAGE_BYTES + 123, 0);
    expect(stateWord(m, true)).toBe(before);
  });

  it("sees stores in every page, the ones past the last group of four included", () => {
    // 7 pages: one group of four read at once, and three read one by one.
    const m = machine(7 * PAGE_BYTES);
    for (let page = 0; page < 7; page++) {
      const before = stateWord(m, true);
      store(m, page * PAGE_BYTES + 8, 0x33);
      expect(stateWord(m, true), `page ${page}`).not.toBe(before);
    }
  });
});

describe("memDigest with lazily refreshed page hashes", () => {
  it("equals the digest of a fresh machine with the same memory, however the state check interleaved", () => {
    const m = machine();
    let x = 12345;
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 15; k++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        store(m, x % m.memBytes, x >>> 24);
      }
      // The state check refreshes the dirty pages first in some rounds (clearing their flags).
      if (round % 3 !== 0) stateWord(m, true);
      if (round % 4 === 0) {
        const fresh = machine();
        fresh.mem.set(m.mem);
        expect(memDigest(m)).toBe(memDigest(fresh));
      }
    }
    const fresh = machine();
    fresh.mem.set(m.mem);
    expect(memDigest(m)).toBe(memDigest(fresh));
  });
});
