// Console input under FT, over the console sink's channel (see src/ft/console-in.ts for
// the rules). Two halves:
//   ConsoleInServer, in the launcher beside the sink: holds stdin's bytes and sends them to
//     the live primary from the offset it asks for;
//   ConsoleInLink, in each host: asks for input whenever it becomes live (or its channel
//     to the sink is new), posts what arrives into the node, and reports how far the
//     input is durable.
// Messages (on SINK_SERVICE):
//   host → sink  {t:"in-from", epoch, offset}     live in `epoch`: send input from `offset`
//   sink → host  {t:"in", offset, bytes} | {t:"in-eof", offset}
//   host → sink  {t:"in-durable", offset, eof}    logged and acknowledged (or logged, alone) through offset
import type { FtNode } from "../ft/node.js";
import { ConsoleInHold } from "../ft/console-in.js";
import type { Channel } from "../transport/channel.js";

/** Launcher side: the held input and the channel of the primary it goes to. */
export class ConsoleInServer {
  readonly hold = new ConsoleInHold();
  private target?: { ch: Channel; host: string; epoch: number };
  /** Bytes sent to primaries (re-sent ones included), for the summary. */
  sentBytes = 0;
  /** The end of what was ever sent: a new primary asking from before it gets those bytes again. */
  private sentThrough = 0;
  /** Times a new primary asked for bytes an old one had been sent but not logged, and how many. */
  resends = 0;
  resentBytes = 0;
  /** Bytes read from stdin. */
  readBytes = 0;

  constructor(
    private readonly log: (line: string) => void,
    /** Called when held input became durable (a reader paused at the bound may go on). */
    private readonly onRoom: () => void,
  ) {}

  from(ch: Channel, host: string, epoch: number, offset: number): void {
    const verdict = this.hold.from(epoch, offset);
    if (verdict === "stale") return;
    if (verdict !== "ok") return this.log(`console input: ${verdict}`);
    if (offset < this.sentThrough) {
      this.resends++;
      this.resentBytes += this.sentThrough - offset;
    }
    this.target = { ch, host, epoch };
    this.pump();
  }

  durable(host: string, offset: number): void {
    if (this.target?.host !== host) return;
    this.hold.durable(offset);
    this.pump();
    if (!this.hold.full) this.onRoom();
  }

  /** Input read from stdin; false when the launcher should stop reading until some is durable. */
  push(bytes: Uint8Array): boolean {
    this.readBytes += bytes.length;
    const room = this.hold.push(bytes);
    this.pump();
    return room;
  }

  /** The summary's line. */
  summary(): string {
    const h = this.hold;
    return (
      `  console input: ${this.readBytes.toLocaleString("en-US")} bytes read${h.eofAt !== undefined ? " to its end" : ""}; ` +
      `${(h.base).toLocaleString("en-US")} durable (logged and acknowledged); ` +
      `re-sent to a new primary ${this.resends} time${this.resends === 1 ? "" : "s"} (${this.resentBytes.toLocaleString("en-US")} bytes the old one had not logged)\n`
    );
  }

  /** New input or the end of it: send what the window allows. */
  pump(): void {
    const t = this.target;
    if (!t || !t.ch.isOpen) return;
    for (const c of this.hold.take()) {
      if (c.eof) t.ch.send({ t: "in-eof", offset: c.offset });
      else {
        t.ch.send({ t: "in", offset: c.offset, bytes: c.bytes });
        this.sentBytes += c.bytes!.length;
        this.sentThrough = Math.max(this.sentThrough, c.offset + c.bytes!.length);
      }
    }
  }
}

/** Host side: one per FtHost. */
export class ConsoleInLink {
  private ch?: Channel;
  private announced?: { ch: Channel; epoch: number };
  /** The offset of the next byte this host expects (what it asked from, plus what came). */
  private expect = 0;
  private queue: Uint8Array[] = [];
  private eofAt?: number;
  private ended = false;
  private sentDurable = -1;
  private sentEof = false;

  constructor(private readonly node: () => FtNode) {}

  attach(ch: Channel): void {
    this.ch = ch;
  }

  /** A message from the sink; true when it was console input. */
  onMessage(m: { t: string; [k: string]: unknown }): boolean {
    if (m.t === "in" && m.bytes instanceof Uint8Array && Number.isSafeInteger(m.offset)) {
      const offset = m.offset as number;
      const bytes = m.bytes;
      // In order from where we asked: a chunk before that is (partly) a repeat, one after it
      // was sent before the sink heard our latest ask (it follows again from there).
      if (offset <= this.expect && offset + bytes.length > this.expect) {
        this.queue.push(new Uint8Array(bytes.subarray(this.expect - offset)));
        this.expect = offset + bytes.length;
      }
      return true;
    }
    if (m.t === "in-eof" && Number.isSafeInteger(m.offset)) {
      if (m.offset === this.expect) this.eofAt = this.expect;
      return true;
    }
    return false;
  }

  /** After every step of the host: ask when newly live, post what arrived, report durability. */
  sync(): void {
    const n = this.node();
    const ch = this.ch;
    if (!ch?.isOpen) return;
    const live = n.role === "primary" || n.role === "alone";
    if (live && (this.announced?.ch !== ch || this.announced.epoch !== n.epoch)) {
      this.queue = [];
      this.eofAt = undefined;
      this.expect = n.consoleIn.posted;
      this.ended = n.bus.console.inputEnded();
      this.announced = { ch, epoch: n.epoch };
      ch.send({ t: "in-from", epoch: n.epoch, offset: this.expect });
    }
    if (!this.announced) return;
    while (this.queue.length > 0 && n.postConsole(this.queue[0])) this.queue.shift();
    if (this.queue.length === 0 && this.eofAt !== undefined && !this.ended) {
      n.endConsole();
      this.ended = true;
    }
    const d = n.consoleInDurable();
    if (d.offset > this.sentDurable || (d.eof && !this.sentEof)) {
      this.sentDurable = d.offset;
      this.sentEof = d.eof;
      ch.send({ t: "in-durable", offset: d.offset, eof: d.eof });
    }
  }
}
