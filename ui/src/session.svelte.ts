// The live state the screens render: what Rust last said about start-up, profiles, the lock
// and its activity log. Events keep it current; commands answer with fresh views that replace
// it. Components read it and call the platform functions; nothing here draws anything.

import { mergeEntries } from "./features/activity/activity";
import {
  appStatus,
  lockActivity,
  lockView,
  listProfiles,
  onAppStatus,
  onLockActivity,
  onLockChanged,
  onProfilesChanged,
  type ActivityEntry,
  type AppStatus,
  type CommandError,
  type LockView,
  type ProfilesView,
  type Unsubscribe,
} from "./platform";

/** The main area's screens. */
export type Screen = "lock" | "localHub";

class Session {
  status: AppStatus = $state({ state: "starting" });
  profiles: ProfilesView | undefined = $state();
  lock: LockView | undefined = $state();
  activity: ActivityEntry[] = $state([]);
  screen: Screen = $state("lock");
  /** A failure of a background load, shown as a banner until dismissed. */
  problem: CommandError | undefined = $state();
  /** Something worth knowing after an action (e.g. missing hub permissions), until dismissed. */
  notice: string | undefined = $state();

  #unsubscribe: Promise<Unsubscribe>[] = [];
  #lockEvents = 0;
  #profileEvents = 0;

  /** Subscribes to Rust's events and reads the start-up status; call once. */
  start(): () => void {
    this.#unsubscribe = [
      onAppStatus((status) => this.setStatus(status)),
      onProfilesChanged((view) => {
        this.#profileEvents += 1;
        this.setProfiles(view);
      }),
      onLockChanged((view) => {
        this.#lockEvents += 1;
        this.setLock(view);
      }),
      onLockActivity((entry) => {
        this.activity = mergeEntries(this.activity, [entry]);
      }),
    ];
    void Promise.all(this.#unsubscribe).then(() =>
      appStatus()
        .then((status) => this.setStatus(status))
        .catch((error: CommandError) =>
          this.setStatus({ state: "failed", message: error.message }),
        ),
    );
    return () => {
      for (const pending of this.#unsubscribe) void pending.then((stop) => stop());
    };
  }

  /** Takes a start-up status from Rust (event or `retry_start` answer). */
  setStatus(status: AppStatus) {
    const wasReady = this.status.state === "ready";
    this.status = status;
    if (status.state === "ready" && !wasReady) void this.reload();
  }

  /** Reads profiles, lock and activity afresh; events that land meanwhile win. */
  async reload(): Promise<void> {
    const profileEvents = this.#profileEvents;
    const lockEvents = this.#lockEvents;
    try {
      const [profiles, lock, activity] = await Promise.all([
        listProfiles(),
        lockView().catch(() => undefined),
        lockActivity().catch(() => []),
      ]);
      if (this.#profileEvents === profileEvents) this.setProfiles(profiles);
      if (lock && this.#lockEvents === lockEvents) this.setLock(lock);
      this.activity = mergeEntries(activity, this.activity);
    } catch (error) {
      this.problem = error as CommandError;
    }
  }

  /** Takes a profiles view from Rust; refetches the lock when the active profile changed. */
  setProfiles(view: ProfilesView) {
    const before = this.profiles?.activeId;
    this.profiles = view;
    if (before !== undefined && before !== view.activeId) void this.#reloadLock();
  }

  /** Takes a lock view from Rust (event or command answer). */
  setLock(view: LockView) {
    this.lock = view;
  }

  /** Replaces the activity log (after clearing it). */
  setActivity(entries: ActivityEntry[]) {
    this.activity = entries;
  }

  async #reloadLock() {
    const lockEvents = this.#lockEvents;
    try {
      const [lock, activity] = await Promise.all([lockView(), lockActivity()]);
      if (this.#lockEvents === lockEvents) this.setLock(lock);
      this.activity = activity;
    } catch (error) {
      this.problem = error as CommandError;
    }
  }
}

/** The one session of this window. */
export const session = new Session();
