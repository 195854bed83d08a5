/** See compile-cache.mjs: the compiled entry for the sources under `packageDir`, or undefined. */
export function compiledMain(packageDir: string): Promise<string | undefined>;
