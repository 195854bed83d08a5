// `ftvm ft` on a terminal: the guest's keys and the launcher's crash keys share stdin
// through an escape prefix, as ssh's: a "~" at the start of a line, then
//   ~p  crash the primary      ~b  crash the backup      ~a  crash the arbiter
//   ~.  stop (also ~q)         ~?  list these            ~~  a "~" for the guest
// Any other byte after "~" goes to the guest with the "~". Ctrl-C stops, as before;
// Ctrl-D at the start of a line ends the guest's input. The terminal is in raw mode (the
// keys arrive at once), so Enter arrives as "\r" and is given to the guest as "\n", as a
// terminal in line mode would.

export type KeyCommand = "crash-primary" | "crash-backup" | "crash-arbiter" | "quit" | "help" | "end-input";

export const ESCAPE_HELP = "keys (at the start of a line): ~p crash primary · ~b crash backup · ~a crash arbiter · ~. quit · ~~ a ~ for the guest";

export class EscapeReader {
  private lineStart = true;
  private escaped = false;

  /** Splits typed bytes into guest input and launcher commands (in order). */
  feed(chunk: Uint8Array): { guest: Uint8Array; commands: KeyCommand[] } {
    const out: number[] = [];
    const commands: KeyCommand[] = [];
    for (let b of chunk) {
      if (this.escaped) {
        this.escaped = false;
        const cmd = ({ p: "crash-primary", b: "crash-backup", a: "crash-arbiter", ".": "quit", q: "quit", "?": "help" } as Record<string, KeyCommand>)[String.fromCharCode(b)];
        if (cmd) {
          commands.push(cmd);
          continue;
        }
        out.push(0x7e);
        if (b === 0x7e) {
          this.lineStart = false;
          continue;
        }
      } else if (b === 0x7e && this.lineStart) {
        this.escaped = true;
        continue;
      }
      if (b === 0x03) {
        commands.push("quit");
        continue;
      }
      if (b === 0x04 && this.lineStart) {
        commands.push("end-input");
        continue;
      }
      if (b === 0x0d) b = 0x0a;
      out.push(b);
      this.lineStart = b === 0x0a;
    }
    return { guest: Uint8Array.from(out), commands };
  }
}
