// How a decoded message's bytes cross from the I/O thread to the host's thread
// (src/host/io-bytes.ts): transferred, never cloned, and byte-exact on the far side.
import { MessageChannel, receiveMessageOnPort } from "node:worker_threads";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { EV } from "../src/devices/events.js";
import { frameBytes, handOver } from "../src/host/io-bytes.js";
import { decodeMessage } from "../src/transport/channel.js";

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A log batch as the primary sends it: network input events carrying bytes. */
function batch(sizes: number[]): { t: string; events: unknown[] } {
  return { t: "log", events: sizes.map((n, i) => [i + 1, 100 * i, EV.NET_RX, { conn: i % 3, bytes: new Uint8Array(n).map((_, j) => (j * 7 + i) & 0xff) }]) };
}

/** Posts `m` with `transfer` and takes it on the other port, as the host's thread does. */
function cross(m: unknown, transfer: ArrayBuffer[]): { t: string; events: [number, number, number, { conn: number; bytes: Uint8Array }][] } {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(m, transfer);
  const got = receiveMessageOnPort(port2)?.message;
  port1.close();
  return got;
}

const bytesOf = (m: { events: unknown[] }) => (m.events as [number, number, number, { bytes: Uint8Array }][]).map((e) => [...e[3].bytes]);

describe("io-bytes: a message's bytes go to the host's thread by transfer", () => {
  it("hands over the frame itself when it is the message's alone, without a copy", () => {
    const sent = batch([5000, 1, 70000]);
    const frame = Buffer.from(packr.pack(sent)); // a fresh buffer of exactly the frame, as ws makes for joined reads
    const m = packr.unpack(frame) as { t: string; events: unknown[] };
    const transfer = handOver(m, frame);
    expect(transfer).toEqual([frame.buffer]);
    const got = cross(m, transfer);
    expect(frame.buffer.byteLength).toBe(0); // moved, not copied
    expect(bytesOf(got)).toEqual(bytesOf(sent));
    expect(got.events.map((e) => e[3].conn)).toEqual([0, 1, 2]);
  });

  it("copies just the message's bytes into one buffer when the frame shares its memory (a socket read with more frames in it)", () => {
    const sent = batch([300, 20, 4000]);
    const packed = packr.pack(sent);
    const read = Buffer.alloc(packed.length + 100, 0xee); // another frame's bytes after this one
    packed.copy(read, 10);
    const frame = read.subarray(10, 10 + packed.length);
    const m = packr.unpack(frame) as { t: string; events: unknown[] };
    const transfer = handOver(m, frame);
    expect(transfer).toHaveLength(1);
    expect(transfer[0].byteLength).toBe(300 + 20 + 4000);
    const got = cross(m, transfer);
    expect(bytesOf(got)).toEqual(bytesOf(sent));
    // The shared read is untouched and still usable on this side.
    expect(read.byteLength).toBe(packed.length + 100);
    expect(read[read.length - 1]).toBe(0xee);
  });

  it("transfers nothing for a message without bytes, and finds bytes at the top level (a clone chunk)", () => {
    expect(handOver({ t: "hb", icount: 5, lsn: 3 }, Buffer.alloc(10))).toEqual([]);
    const chunk = { t: "clone-mem", index: 2, bytes: new Uint8Array([1, 2, 3]) };
    const transfer = handOver(chunk, undefined);
    expect(transfer.map((b) => b.byteLength)).toEqual([3]);
    expect([...(cross(chunk, transfer) as unknown as { bytes: Uint8Array }).bytes]).toEqual([1, 2, 3]);
  });

  it("moves a bytes field that is a whole buffer of its own (a raw frame) as it is, and copies only the rest", () => {
    const raw = Buffer.from(new Uint8Array(70_000).map((_, j) => j & 0xff)); // a raw frame ws joined from reads
    const read = Buffer.alloc(500, 0xee); // a socket read holding a small field and more
    const m = { t: "log", events: [[1, 0, EV.NET_RX, { conn: 0, bytes: raw }], [2, 5, EV.NET_RX, { conn: 1, bytes: read.subarray(10, 30) }]] };
    const transfer = handOver(m, read.subarray(0, 100));
    expect(transfer).toHaveLength(2);
    expect(transfer[0]).toBe(raw.buffer);
    expect(transfer[1].byteLength).toBe(20);
    const got = cross(m, transfer);
    expect(raw.buffer.byteLength).toBe(0); // moved, not copied
    expect(got.events[0][3].bytes.length).toBe(70_000);
    expect(got.events[0][3].bytes[69_999]).toBe(69_999 & 0xff);
    expect([...got.events[1][3].bytes]).toEqual(new Array(20).fill(0xee));
    expect(read[0]).toBe(0xee); // the shared read stays usable here
  });
  it("a log batch crosses as its encoded bytes: the frame itself when whole, else a copy of just its bytes, and decodes to the same message", () => {
    const sent = batch([512, 0, 4096]);
    const encoded = packr.pack(sent);
    // Whole: the frame's memory is the message's alone, so it is moved, not copied.
    const whole = Buffer.from(encoded);
    const raw = frameBytes(whole);
    expect(raw).toBe(whole);
    const got = cross(raw, [raw.buffer as ArrayBuffer]) as unknown as Uint8Array;
    expect(whole.buffer.byteLength).toBe(0);
    const m = decodeMessage(Buffer.from(got.buffer, got.byteOffset, got.byteLength), true) as unknown;
    expect(typeof m).toBe("object");
    expect(bytesOf(m as { events: unknown[] })).toEqual(bytesOf(sent));
    expect((m as { events: unknown[][] }).events.map((e) => e.slice(0, 3))).toEqual(sent.events.map((e) => (e as unknown[]).slice(0, 3)));
    // Shared: a frame inside a larger socket read; only its own bytes go, and the read stays usable here.
    const read = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(encoded), Buffer.from([4, 5])]);
    const frame = read.subarray(3, 3 + encoded.length);
    const copy = frameBytes(frame);
    expect(copy).not.toBe(frame);
    expect(copy.byteLength).toBe(encoded.length);
    expect(copy.buffer.byteLength).toBe(encoded.length);
    const got2 = cross(copy, [copy.buffer as ArrayBuffer]) as unknown as Uint8Array;
    expect(read[0]).toBe(1);
    expect(bytesOf(decodeMessage(Buffer.from(got2.buffer, got2.byteOffset, got2.byteLength), true) as unknown as { events: unknown[] })).toEqual(bytesOf(sent));
  });
});
