// Copying text to the clipboard from a click. WebKit only lets a page write the clipboard
// during the user's gesture, so text that must first be fetched from Rust (a revealed secret)
// goes through a ClipboardItem holding a promise, which keeps the gesture; plain text uses
// writeText, and the last resort is a hidden textarea + execCommand("copy").

/** Copies `source`; call it synchronously from the click handler. Resolves true on success. */
export async function copyText(source: string | Promise<string>): Promise<boolean> {
  if (typeof source !== "string" && typeof ClipboardItem !== "undefined") {
    try {
      const blob = source.then((text) => new Blob([text], { type: "text/plain" }));
      await navigator.clipboard.write([new ClipboardItem({ "text/plain": blob })]);
      return true;
    } catch {
      // Not supported here, or fetching the text failed: the await below says which.
    }
  }
  const text = await source;
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No Clipboard API here, or the gesture is gone: fall back below.
  }
  return copyWithTextarea(text);
}

function copyWithTextarea(text: string): boolean {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.setAttribute("aria-hidden", "true");
  area.className = "clipboard-helper";
  document.body.append(area);
  const focused = document.activeElement;
  area.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  } finally {
    area.remove();
    if (focused instanceof HTMLElement) focused.focus();
  }
}
