// The builder's live preview: waits until typing pauses, asks the parent once, and keeps
// only the answer for the latest condition (an older answer arriving late is dropped).
// Plain TypeScript over injected timers, so it is tested with fake timers.

import { checkCondition } from "./validate";
import { toProblem, type JobPreview, type Problem } from "./types";

/** What the preview panel shows. */
export type PreviewState =
  | { kind: "idle"; note: string }
  | { kind: "loading"; condition: string }
  | { kind: "ready"; condition: string; result: JobPreview }
  | { kind: "error"; condition: string; problem: Problem };

/** The note shown before there is a condition. */
export const EMPTY_NOTE = "Enter a condition to see the devices it selects.";

/** Debounces preview requests for conditions. */
export class Previewer {
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly fetch: (condition: string) => Promise<JobPreview>,
    private readonly delayMs: number,
    private readonly onstate: (state: PreviewState) => void,
  ) {}

  /** The condition changed: show "loading" now and ask after the pause (or say why not). */
  request(text: string): void {
    const condition = text.trim();
    const seq = ++this.seq;
    clearTimeout(this.timer);
    const local = checkCondition(condition);
    if (local) {
      this.onstate({ kind: "idle", note: condition ? local : EMPTY_NOTE });
      return;
    }
    this.onstate({ kind: "loading", condition });
    this.timer = setTimeout(() => {
      let pending: Promise<JobPreview>;
      try {
        pending = this.fetch(condition);
      } catch (thrown) {
        pending = Promise.reject(thrown instanceof Error ? thrown : new Error(String(thrown)));
      }
      pending.then(
        (result) => {
          if (seq === this.seq) this.onstate({ kind: "ready", condition, result });
        },
        (thrown: unknown) => {
          if (seq === this.seq)
            this.onstate({ kind: "error", condition, problem: toProblem(thrown) });
        },
      );
    }, this.delayMs);
  }

  /** Stops: a pending request is not sent and a late answer is dropped. */
  dispose(): void {
    this.seq++;
    clearTimeout(this.timer);
  }
}
