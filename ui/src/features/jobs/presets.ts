// Query condition presets for the builder: common targets written as the hub's query
// language expects them.

/** A ready-made condition. */
export interface ConditionPreset {
  id: string;
  label: string;
  condition: string;
}

/** A string literal in the hub's query language: single quotes, backslash escapes. */
export function quoteQueryString(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** `deviceId = '<id>'`. */
export function deviceCondition(deviceId: string): string {
  return `deviceId = ${quoteQueryString(deviceId)}`;
}

/** `deviceId IN ['a', 'b']`. */
export function deviceListCondition(deviceIds: readonly string[]): string {
  return `deviceId IN [${deviceIds.map(quoteQueryString).join(", ")}]`;
}

/** The presets, starting with "This lock" when the lock's device id is known. */
export function conditionPresets(thisDeviceId?: string): ConditionPreset[] {
  const presets: ConditionPreset[] = [];
  if (thisDeviceId) {
    presets.push({ id: "this-lock", label: "This lock", condition: deviceCondition(thisDeviceId) });
  }
  presets.push(
    { id: "all", label: "All devices", condition: "*" },
    { id: "building", label: "Building 43", condition: "tags.building = 43" },
    {
      id: "floor",
      label: "Building 43, floor 3",
      condition: "tags.building = 43 AND tags.floor = 3",
    },
    { id: "connected", label: "Connected now", condition: "connectionState = 'Connected'" },
  );
  return presets;
}
