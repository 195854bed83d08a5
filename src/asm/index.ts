// The assembler's public API. Everything else in src/asm is an implementation detail.
export { assemble, assembleFile, DATA_END, type AssembleOptions } from "./assembler.js";
export { disassemble, disassembleInstruction, symbolNames, type SymbolNames } from "./disasm.js";
export { AsmError, MAX_REPORTED_ERRORS, type SourceLine } from "./errors.js";
export { LIB_DIR, REPO_ROOT } from "./include.js";
export { MACRO_DEPTH_MAX } from "./macro.js";
