// The assembler's public API. Everything else in src/asm is an implementation detail.
export { assemble, assembleFile, DATA_END, type AssembleOptions } from "./assembler.js";
export { disassemble, disassembleInstruction, disassemblyLines, symbolNames, type SymbolNames } from "./disasm.js";
export { AsmError, MAX_REPORTED_ERRORS, type SourceLine } from "./errors.js";
export { EXPR_NESTING_MAX } from "./expr.js";
export { LIB_DIR, REPO_ROOT, SOURCE_BYTES_MAX, SOURCE_FILE_BYTES_MAX } from "./include.js";
export { MACRO_DEPTH_MAX, MACRO_EXPANSION_LINES_MAX } from "./macro.js";
