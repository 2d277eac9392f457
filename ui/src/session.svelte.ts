// The live state the screens render: what Rust last said about start-up, profiles, the lock
// and its activity log, the active profile's jobs and the simulated fleet. Events keep it current; commands answer with fresh views that replace
// it. Components read it and call the platform functions; nothing here draws anything.

import { mergeEntries } from "./features/activity/activity";
import { applyJobUpdate, mergeJobs } from "./features/jobs/merge";
import {
  appStatus,
  fleetStatus,
  listJobs,
  lockActivity,
  lockView,
  listProfiles,
  onAppStatus,
  onFleetChanged,
  onJobUpdated,
  onLockActivity,
  onLockChanged,
  onProfilesChanged,
  refreshJobs,
  retryLocalHub,
  setWindowVisible,
  type ActivityEntry,
  type AppStatus,
  type CommandError,
  type FleetView,
  type JobSummary,
  type LockView,
  type ProfilesView,
  type Unsubscribe,
} from "./platform";

/** The main area's screens. */
export type Screen = "lock" | "jobs" | "localHub";

/** Every archived job of the profile (the archive's default cap is 1,000, most recent first). */
const ALL_JOBS = { statuses: [], kinds: [], from: null, to: null, limit: null };

class Session {
  status: AppStatus = $state({ state: "starting" });
  profiles: ProfilesView | undefined = $state();
  lock: LockView | undefined = $state();
  activity: ActivityEntry[] = $state([]);
  /** The active profile's jobs (archive + live updates), any order. */
  jobs: JobSummary[] = $state.raw([]);
  /** The simulated fleet (local hub only). */
  fleet: FleetView | undefined = $state();
  screen: Screen = $state("lock");
  /** A failure of a background load, shown as a banner until dismissed. */
  problem: CommandError | undefined = $state();
  /** Something worth knowing after an action (e.g. missing hub permissions), until dismissed. */
  notice: string | undefined = $state();
  /** Whether a retry of the local hub's start is under way. */
  localHubRetrying = $state(false);
  /** Counts local hub (re)starts from the UI, so views of the hub read it again. */
  localHubStarts = $state(0);

  #unsubscribe: Promise<Unsubscribe>[] = [];
  #lockEvents = 0;
  #profileEvents = 0;
  #fleetEvents = 0;

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
      onJobUpdated((update) => {
        this.jobs = applyJobUpdate(this.jobs, update, this.profiles?.activeId);
      }),
      onFleetChanged((view) => {
        this.#fleetEvents += 1;
        this.fleet = view;
      }),
    ];
    // Rust polls running jobs only while someone can see them.
    const visibility = () => void setWindowVisible(!document.hidden).catch(() => undefined);
    document.addEventListener("visibilitychange", visibility);
    void Promise.all(this.#unsubscribe).then(() =>
      appStatus()
        .then((status) => this.setStatus(status))
        .catch((error: CommandError) =>
          this.setStatus({ state: "failed", message: error.message }),
        ),
    );
    return () => {
      document.removeEventListener("visibilitychange", visibility);
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
    await this.#reloadJobs();
  }

  /**
   * Starts the local hub again after it failed to. On success everything is read afresh (its
   * lock, jobs and fleet came up); on failure Rust's new reason arrives with the profiles and
   * is also the rejection.
   */
  async retryLocalHub(): Promise<void> {
    if (this.localHubRetrying) return;
    this.localHubRetrying = true;
    try {
      await retryLocalHub();
      this.localHubStarts += 1;
      await this.reload();
    } finally {
      this.localHubRetrying = false;
    }
  }

  /** Takes a profiles view from Rust; refetches the lock when the active profile changed. */
  setProfiles(view: ProfilesView) {
    const before = this.profiles?.activeId;
    this.profiles = view;
    if (before !== undefined && before !== view.activeId) {
      this.jobs = [];
      void this.#reloadLock();
      void this.#reloadJobs();
    }
  }

  /**
   * Imports the hub's jobs into the archive (jobs made elsewhere, e.g. with the az CLI) and
   * reads the list again; resolves how many jobs the hub listed.
   */
  async importJobs(): Promise<number> {
    const profileId = this.profiles?.activeId;
    const read = await refreshJobs();
    const jobs = await listJobs(ALL_JOBS);
    if (this.profiles?.activeId === profileId) this.jobs = mergeJobs(this.jobs, jobs);
    return read;
  }

  /** Takes jobs Rust answered with (submit, cancel): merged like events. */
  mergeJobs(jobs: JobSummary[]) {
    this.jobs = mergeJobs(this.jobs, jobs);
  }

  /**
   * Takes a lock view from Rust (event or command answer). A view of another profile's lock
   * means Rust has swapped the activity log for that profile's: entries from here on belong
   * to it, so the shown log starts empty and the new log is read and merged with them (the
   * entries before the swap, e.g. the old lock disconnecting, were the old profile's).
   */
  setLock(view: LockView) {
    const before = this.lock?.profileId;
    this.lock = view;
    if (before !== undefined && before !== view.profileId) {
      this.activity = [];
      void this.#reloadActivity(view.profileId);
    }
  }

  /**
   * Takes the lock view a command answers with, unless a `lock-changed` event landed while
   * the command ran: Rust emits one for every change, so that event is at least as new (e.g.
   * "go offline" answers while still connected, and the event saying offline can come first).
   */
  async lockCommand(pending: Promise<LockView>): Promise<void> {
    const events = this.#lockEvents;
    const view = await pending;
    if (this.#lockEvents === events) this.setLock(view);
  }

  /** Replaces the activity log (after clearing it). */
  setActivity(entries: ActivityEntry[]) {
    this.activity = entries;
  }

  /** Reads the active profile's archived jobs and the fleet; events that land meanwhile win. */
  async #reloadJobs() {
    const profileId = this.profiles?.activeId;
    const fleetEvents = this.#fleetEvents;
    const [jobs, fleet] = await Promise.all([
      listJobs(ALL_JOBS).catch((error: CommandError) => {
        this.problem = error;
        return [];
      }),
      fleetStatus().catch(() => undefined),
    ]);
    if (this.profiles?.activeId !== profileId) return;
    this.jobs = mergeJobs(this.jobs, jobs);
    if (fleet && this.#fleetEvents === fleetEvents) this.fleet = fleet;
    // Rust imports the hub's jobs itself at start-up and on a switch; reading the list again
    // after an import of our own catches jobs that landed after the first read. A failure
    // here (hub unreachable) is Rust's to report on the next action, not a banner.
    await this.importJobs().catch(() => undefined);
  }

  /** Reads the lock after a profile switch; its log follows through {@link setLock}. */
  async #reloadLock() {
    const lockEvents = this.#lockEvents;
    try {
      const lock = await lockView();
      if (this.#lockEvents === lockEvents) this.setLock(lock);
    } catch (error) {
      this.problem = error as CommandError;
    }
  }

  /** Reads `profileId`'s activity log and merges it with the entries that came meanwhile. */
  async #reloadActivity(profileId: string) {
    try {
      const activity = await lockActivity();
      // A later switch made another log current: this answer may be either one's.
      if (this.lock?.profileId === profileId) this.activity = mergeEntries(activity, this.activity);
    } catch (error) {
      this.problem = error as CommandError;
    }
  }
}

/** The one session of this window. */
export const session = new Session();
