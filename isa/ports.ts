// Device ports and interrupt vectors as the guest sees them. The assembler predefines
// each name below as a constant, so programs write `OUT CON_OUT, r1` and `SETVEC VEC_TIMER, tick`.

export interface PortSpec {
  readonly name: string;
  readonly port: number;
  readonly access: "r" | "w" | "rw";
  readonly sem: string;
}

export const PORTS: readonly PortSpec[] = [
  { name: "CON_OUT", port: 0x00, access: "w", sem: "write one byte (low 8 bits) to the console" },
  { name: "CON_IN", port: 0x01, access: "r", sem: "read one input byte, or -1 if none is buffered" },
  { name: "CON_STATUS", port: 0x02, access: "r", sem: "input bytes buffered; -1 when input has ended and the buffer is empty" },
  { name: "CON_CTRL", port: 0x03, access: "rw", sem: "bit 0: raise VEC_CONSOLE when input arrives" },
  { name: "TIMER_PERIOD", port: 0x10, access: "rw", sem: "periodic timer interrupt every N virtual microseconds; 0 stops it" },
  { name: "TIMER_TICKS", port: 0x11, access: "r", sem: "timer interrupts delivered so far" },
  { name: "CLOCK_HI", port: 0x20, access: "r", sem: "high 32 bits of the clock value read by the last TIME" },
  { name: "MEM_SIZE", port: 0x70, access: "r", sem: "data memory size in bytes" },
  { name: "STACK_BASE", port: 0x71, access: "r", sem: "lowest address of the stack region (the stack grows down from MEM_SIZE)" },
];

export const PORT: Readonly<Record<string, number>> = Object.fromEntries(PORTS.map((p) => [p.name, p.port]));

export const VECTORS = [
  { name: "VEC_TIMER", vector: 0, sem: "the periodic timer fired" },
  { name: "VEC_CONSOLE", vector: 1, sem: "console input arrived (when enabled in CON_CTRL)" },
] as const;

export const VEC_TIMER = 0;
export const VEC_CONSOLE = 1;

/** Every name the assembler predefines, with its value. */
export function predefinedConstants(): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of PORTS) m.set(p.name, p.port);
  for (const v of VECTORS) m.set(v.name, v.vector);
  return m;
}
