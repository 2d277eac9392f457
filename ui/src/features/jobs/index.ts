// The jobs feature, as the app mounts it: three components that take data and functions as
// props and talk to nothing themselves (the app passes functions over src/platform), plus
// the types their props use and the helpers a parent may want (a blank draft, conditions).

export { default as JobBuilder } from "./JobBuilder.svelte";
export { default as JobDetail } from "./JobDetail.svelte";
export { default as Timeline } from "./Timeline.svelte";
export { deviceCondition, deviceListCondition, quoteQueryString } from "./presets";
export { newDraft, newJobId, validateDraft } from "./validate";
export { toProblem } from "./types";
export type {
  DeviceResult,
  DeviceStatus,
  DraftField,
  FieldError,
  JobDraft,
  JobKind,
  JobPreview,
  JobProgress,
  JobStatus,
  JobSummary,
  Problem,
  StartMode,
  StatusCount,
  SubmitResult,
} from "./types";
