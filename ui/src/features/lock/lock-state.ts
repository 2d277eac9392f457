// Pure bookkeeping for the lock card: which report of the lock's state is the newest.

import type { DoorLockChanged } from "../../platform";

/**
 * Keeps the newer of two reports. Events and command answers can arrive out of order (the
 * initial `door_lock_state` answer may land after a change event), so the revision decides.
 */
export function newest(
  current: DoorLockChanged | undefined,
  incoming: DoorLockChanged,
): DoorLockChanged {
  if (current === undefined || incoming.revision >= current.revision) {
    return incoming;
  }
  return current;
}

/** What the lock shows as `data-state`, and what assistive technology reads. */
export function lockLabel(state: DoorLockChanged | undefined): "locked" | "unlocked" | "unknown" {
  if (state === undefined) return "unknown";
  return state.locked ? "locked" : "unlocked";
}
