// Fixed seeds and quick runs in the suite; a long run on demand:
//   FTVM_FUZZ_SCALE=100 FTVM_FUZZ_SEED=random npx vitest run --config test/vitest.config.ts test/reader-fuzz.test.ts test/channel-limits.test.ts
// FTVM_FUZZ_SCALE multiplies every property's runs; FTVM_FUZZ_SEED replaces the fixed seeds
// with a number, or with a fresh one per property ("random"; fast-check prints it on failure).

/** fast-check parameters for a property whose suite settings are `seed` and `numRuns`. */
export function fuzzParams(seed: number, numRuns: number): { seed: number; numRuns: number } {
  const scale = Number(process.env.FTVM_FUZZ_SCALE ?? 1);
  const s = process.env.FTVM_FUZZ_SEED;
  return {
    seed: s === undefined ? seed : s === "random" ? Math.floor(Math.random() * 2 ** 31) : Number(s),
    numRuns: Math.max(1, Math.round(numRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1))),
  };
}
