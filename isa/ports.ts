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
  { name: "DISK_BLOCKS", port: 0x30, access: "r", sem: "disk size in blocks (0: no disk attached)" },
  { name: "DISK_BLOCK_BYTES", port: 0x31, access: "r", sem: "disk block size in bytes" },
  { name: "DISK_OP", port: 0x32, access: "rw", sem: "operation of the next request: DISK_READ or DISK_WRITE" },
  { name: "DISK_BLOCK", port: 0x33, access: "rw", sem: "first block of the next request" },
  { name: "DISK_COUNT", port: 0x34, access: "rw", sem: "number of blocks of the next request" },
  { name: "DISK_ADDR", port: 0x35, access: "rw", sem: "guest memory address of the next request (a multiple of 4)" },
  { name: "DISK_TAG", port: 0x36, access: "rw", sem: "any value; reported again in DISK_DONE_TAG when the request completes" },
  { name: "DISK_START", port: 0x37, access: "r", sem: "start the request the registers describe: its slot (0..7), or a negative DISK_E_* status" },
  { name: "DISK_DONE", port: 0x38, access: "r", sem: "take the oldest completed request: its slot (now free), or -1 when none" },
  { name: "DISK_DONE_STATUS", port: 0x39, access: "r", sem: "status of the request DISK_DONE last took: DISK_OK or DISK_E_IO" },
  { name: "DISK_DONE_TAG", port: 0x3a, access: "r", sem: "tag of the request DISK_DONE last took" },
  { name: "DISK_PENDING", port: 0x3b, access: "r", sem: "slots in use: requests started and not yet taken by DISK_DONE" },
  { name: "DISK_READY", port: 0x3c, access: "r", sem: "completed requests waiting to be taken by DISK_DONE" },
  { name: "DISK_CTRL", port: 0x3d, access: "rw", sem: "bit 0: raise VEC_DISK when a request completes" },
  { name: "NET_CTRL", port: 0x40, access: "rw", sem: "bit 0: raise VEC_NET when a network record arrives" },
  { name: "NET_STATUS", port: 0x41, access: "r", sem: "network records waiting to be taken with NET_RECV" },
  { name: "NET_RECV", port: 0x42, access: "r", sem: "take the next record (data: at most NET_LEN bytes copied to NET_ADDR); returns 0 none, 1 open, 2 data, 3 close" },
  { name: "NET_RX_CONN", port: 0x43, access: "r", sem: "connection of the record the last NET_RECV took" },
  { name: "NET_RX_LEN", port: 0x44, access: "r", sem: "bytes the last NET_RECV copied (the rest of a longer data record stays first in line)" },
  { name: "NET_CONN", port: 0x45, access: "rw", sem: "connection that NET_SEND, NET_CLOSE and NET_SENT act on" },
  { name: "NET_ADDR", port: 0x46, access: "rw", sem: "data memory address of the buffer for NET_RECV and NET_SEND" },
  { name: "NET_LEN", port: 0x47, access: "rw", sem: "buffer length: the most bytes NET_RECV copies, the bytes NET_SEND transmits" },
  { name: "NET_SEND", port: 0x48, access: "r", sem: "transmit NET_LEN bytes at NET_ADDR on NET_CONN; returns NET_LEN or a negative status" },
  { name: "NET_CLOSE", port: 0x49, access: "r", sem: "close NET_CONN (after what it sent); returns 0 or a negative status" },
  { name: "NET_SENT", port: 0x4a, access: "r", sem: "bytes transmitted on NET_CONN since it opened (its stream offset)" },
  { name: "NET_CONNS", port: 0x4b, access: "r", sem: "number of connection ids: they are 0 .. NET_CONNS - 1" },
  { name: "MEM_SIZE", port: 0x70, access: "r", sem: "data memory size in bytes" },
  { name: "STACK_BASE", port: 0x71, access: "r", sem: "lowest address of the stack region (the stack grows down from MEM_SIZE)" },
];

export const PORT: Readonly<Record<string, number>> = Object.fromEntries(PORTS.map((p) => [p.name, p.port]));

export const VECTORS = [
  { name: "VEC_TIMER", vector: 0, sem: "the periodic timer fired" },
  { name: "VEC_CONSOLE", vector: 1, sem: "console input arrived (when enabled in CON_CTRL)" },
  { name: "VEC_DISK", vector: 2, sem: "a disk request completed (when enabled in DISK_CTRL)" },
  { name: "VEC_NET", vector: 3, sem: "a network record (open, data, close) arrived (when enabled in NET_CTRL)" },
] as const;

export const VEC_TIMER = 0;
export const VEC_CONSOLE = 1;
export const VEC_DISK = 2;
export const VEC_NET = 3;

/** Named values a device defines (operations, statuses, limits); the assembler predefines them too. */
export interface ConstantSpec {
  readonly name: string;
  readonly value: number;
  readonly sem: string;
}

export const CONSTANTS: readonly ConstantSpec[] = [
  { name: "DISK_READ", value: 1, sem: "DISK_OP: read blocks into memory (the data lands when the request completes)" },
  { name: "DISK_WRITE", value: 2, sem: "DISK_OP: write memory to blocks (the data is copied when the request starts)" },
  { name: "DISK_REQUESTS_MAX", value: 8, sem: "disk requests that may be outstanding at once (slots 0..7)" },
  { name: "DISK_REQUEST_BYTES_MAX", value: 65536, sem: "the most bytes one disk request may move" },
  { name: "DISK_OK", value: 0, sem: "the request completed" },
  { name: "DISK_E_OP", value: -1, sem: "DISK_START: DISK_OP is neither DISK_READ nor DISK_WRITE" },
  { name: "DISK_E_COUNT", value: -2, sem: "DISK_START: DISK_COUNT is 0, or the request would move more than DISK_REQUEST_BYTES_MAX" },
  { name: "DISK_E_RANGE", value: -3, sem: "DISK_START: the blocks lie outside the disk (always so with no disk)" },
  { name: "DISK_E_ADDR", value: -4, sem: "DISK_START: DISK_ADDR is not a multiple of 4, or the bytes do not fit in data memory" },
  { name: "DISK_E_FULL", value: -5, sem: "DISK_START: all DISK_REQUESTS_MAX slots are in use" },
  { name: "DISK_E_IO", value: -6, sem: "DISK_DONE_STATUS: the host could not perform the request (a read left memory untouched)" },
];

/** Every name the assembler predefines, with its value. */
export function predefinedConstants(): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of PORTS) m.set(p.name, p.port);
  for (const v of VECTORS) m.set(v.name, v.vector);
  for (const c of CONSTANTS) m.set(c.name, c.value);
  return m;
}
