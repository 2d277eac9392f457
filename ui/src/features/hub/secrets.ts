// Pure helpers for the masked secrets of the local hub view.

import type { SecretKind } from "../../platform";

/** The dot Rust masks secrets with. */
export const MASK = "••••••••";

/**
 * Masks the value of every `SharedAccessKey` / `SharedAccessSignature` pair in a connection
 * string, keeping the rest readable. Used for anything the UI shows that Rust did not mask.
 */
export function maskConnectionString(text: string): string {
  return text
    .split(";")
    .map((pair) => {
      const at = pair.indexOf("=");
      if (at < 0) return pair;
      const key = pair.slice(0, at);
      return /^SharedAccess(Key|Signature)$/i.test(key.trim()) ? `${key}=${MASK}` : pair;
    })
    .join(";");
}

/** Which secrets are shown in the clear; a secret is revealed only on explicit user action. */
export type Revealed = Partial<Record<SecretKind, string>>;

/** The text to show for a secret: the revealed plain text, otherwise the masked form. */
export function shownSecret(revealed: Revealed, kind: SecretKind, masked: string): string {
  return revealed[kind] ?? masked;
}

/** `revealed` with `kind` shown as `plain`. */
export function reveal(revealed: Revealed, kind: SecretKind, plain: string): Revealed {
  return { ...revealed, [kind]: plain };
}

/** `revealed` with `kind` masked again. */
export function hide(revealed: Revealed, kind: SecretKind): Revealed {
  return Object.fromEntries(Object.entries(revealed).filter(([key]) => key !== kind));
}
