// The only module that talks to Tauri. Every call to Rust and every event from Rust goes
// through the typed functions here; the rest of the UI imports from "src/platform" and never
// from "@tauri-apps/*" (eslint enforces it). Wire types are generated from Rust by ts-rs into
// ./bindings and re-exported, never written by hand.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

import type { CommandError } from "./bindings/CommandError";
import type { DoorLockChanged } from "./bindings/DoorLockChanged";
import type { ErrorCode } from "./bindings/ErrorCode";

export type { CommandError, DoorLockChanged, ErrorCode };
export type Unsubscribe = UnlistenFn;

/** Names of the events Rust emits; must match `src-tauri/src/events.rs`. */
const EVENTS = {
  doorLockChanged: "door-lock-changed",
} as const;

/** Turns whatever a rejected command threw into a {@link CommandError}. */
export function toCommandError(thrown: unknown): CommandError {
  if (
    typeof thrown === "object" &&
    thrown !== null &&
    "code" in thrown &&
    "message" in thrown &&
    typeof thrown.message === "string"
  ) {
    return thrown as CommandError;
  }
  return { code: "internal", message: String(thrown) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (thrown) {
    throw toCommandError(thrown);
  }
}

/** The door lock's current state. */
export function doorLockState(): Promise<DoorLockChanged> {
  return call<DoorLockChanged>("door_lock_state");
}

/** Asks Rust to toggle the lock; the new state arrives through {@link onDoorLockChanged}. */
export async function toggleDoorLock(): Promise<void> {
  await call<null>("toggle_door_lock");
}

/** Calls `handler` with every lock change Rust reports. */
export function onDoorLockChanged(handler: (state: DoorLockChanged) => void): Promise<Unsubscribe> {
  return listen<DoorLockChanged>(EVENTS.doorLockChanged, (event) => handler(event.payload));
}
