// An in-memory EventSource: events pushed by a receiver (the backup's log channel, a
// test) and consumed by replay. Bounded: push() refuses beyond `capacityEvents`, so the
// producer must apply back-pressure instead of growing memory without limit.
import type { Event } from "../devices/events.js";
import type { EventSource } from "./replay.js";

export const QUEUE_EVENTS_MAX_DEFAULT = 1 << 20;

export class QueueSource implements EventSource {
  private items: Event[] = [];
  private head = 0;

  constructor(readonly capacityEvents = QUEUE_EVENTS_MAX_DEFAULT) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Appends events; false (and nothing appended) when they do not fit. */
  push(events: readonly Event[]): boolean {
    if (this.length + events.length > this.capacityEvents) return false;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    for (const e of events) this.items.push(e);
    return true;
  }

  peek(): Event | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  take(): void {
    if (this.head >= this.items.length) throw new Error("QueueSource: take() on an empty queue");
    this.head++;
  }
}
