// How a message's bytes cross from the I/O thread (io-worker.ts) to the host's thread.
//
// postMessage clones what it is given unless its memory is transferred, and a clone of a
// byte view copies the whole ArrayBuffer under the view: the decoded message's bytes are
// views into the received frame (msgpackr does not copy them), which may be a socket read
// holding other frames too. So every log batch's network input was copied twice (into the
// serializer's buffer, then out of it on the host's thread) and often with more than its
// own bytes; under a bulk transfer into the guest that was about a twelfth of the backup's
// CPU (perf: ValueSerializer / ValueDeserializer memmove). Instead the memory is handed
// over: the frame itself when it is the message's alone (ws made it for this message by
// joining socket reads, as for any large batch), otherwise one fresh buffer holding just
// the message's bytes (one copy, of what the message carries and nothing else).

/** How deep in a message bytes fields are looked for: message, events, event, its data, data.bytes. */
export const BYTES_SEARCH_DEPTH_MAX = 4;

type Holder = Record<string | number, unknown>;

/** The byte views in `v` (to BYTES_SEARCH_DEPTH_MAX), each with where it is held. */
function views(v: unknown, depth: number, out: { holder: Holder; key: string | number; view: Uint8Array }[]): void {
  if (depth > BYTES_SEARCH_DEPTH_MAX || typeof v !== "object" || v === null) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x instanceof Uint8Array) out.push({ holder: v as unknown as Holder, key: i, view: x });
      else if (typeof x === "object" && x !== null) views(x, depth + 1, out);
    }
    return;
  }
  if (ArrayBuffer.isView(v)) return;
  for (const k in v) {
    const x = (v as Holder)[k];
    if (x instanceof Uint8Array) out.push({ holder: v as Holder, key: k, view: x });
    else if (typeof x === "object" && x !== null) views(x, depth + 1, out);
  }
}

/**
 * The memory to transfer with `m` (decoded from `frame`), after pointing its bytes fields
 * at it; empty when `m` carries no bytes. A bytes field that is a whole buffer of its own
 * (a raw frame that ws joined from socket reads, see the channel's raw payloads) moves as
 * it is; the rest move with the frame when it is theirs alone, else as one fresh buffer
 * holding just them. After the transfer neither the frame nor those views may be used on
 * this thread: nothing here keeps them (the log front reads lsns only).
 */
export function handOver(m: object, frame: Uint8Array | undefined): ArrayBuffer[] {
  const found: { holder: Holder; key: string | number; view: Uint8Array }[] = [];
  views(m, 1, found);
  if (found.length === 0) return [];
  const moved = new Set<ArrayBuffer>();
  const rest: typeof found = [];
  for (const f of found) {
    const b = f.view.buffer;
    if (b instanceof ArrayBuffer && f.view.byteOffset === 0 && f.view.byteLength === b.byteLength) moved.add(b);
    else rest.push(f);
  }
  if (rest.length === 0) return [...moved];
  const whole = frame && frame.buffer instanceof ArrayBuffer && frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength ? frame.buffer : undefined;
  if (whole && rest.every((f) => f.view.buffer === whole)) return [...moved.add(whole)];
  let total = 0;
  for (const f of rest) total += f.view.byteLength;
  const mem = new ArrayBuffer(total);
  let at = 0;
  for (const f of rest) {
    const copy = new Uint8Array(mem, at, f.view.byteLength);
    copy.set(f.view);
    f.holder[f.key] = copy;
    at += f.view.byteLength;
  }
  return [...moved.add(mem)];
}

/**
 * A log batch's encoded bytes, to transfer to the host's thread, which decodes them again
 * (decodeMessage): the frame itself when its memory is the message's alone, otherwise a
 * copy of just its bytes. After the transfer neither the frame nor the views decoded from
 * it may be used on this thread.
 *
 * Why not the decoded message, as for other messages (handOver): postMessage clones an
 * object graph through V8's serializer, and msgpackr makes its arrays with new Array(n),
 * holey arrays, which the serializer writes and reads element by element as sparse ones.
 * A backup of a disk guest (a log batch of a few dozen events, each an array, most with
 * a record and a block of read data) spent 18% of its host thread's samples in that
 * deserializer (perf, diskmix with 40,000 operations, non-shared disk, 2026-12-07).
 * Decoding the bytes again is cheaper: for a batch of 20 disk reads of 512 bytes (11 kB),
 * clone and read back took 46-95 µs of CPU, transfer of the bytes and a second decode
 * 20-22 µs, of which the decode 10.6 µs (a loop of 20,000 batches on this machine).
 */
export function frameBytes(frame: Uint8Array): Uint8Array {
  const whole = frame.buffer instanceof ArrayBuffer && frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength;
  return whole ? frame : new Uint8Array(frame);
}
