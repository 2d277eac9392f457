import js from "@eslint/js";
import svelte from "eslint-plugin-svelte";
import globals from "globals";
import ts from "typescript-eslint";
import svelteConfig from "./svelte.config.js";

export default ts.config(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  ...ts.configs.strict,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ["**/*.svelte", "**/*.svelte.ts"],
    languageOptions: {
      parserOptions: {
        projectService: true,
        extraFileExtensions: [".svelte"],
        parser: ts.parser,
        svelteConfig,
      },
    },
  },
  {
    // Only the platform module may talk to Tauri (and through it, to Rust).
    files: ["src/**/*.{ts,svelte}"],
    ignores: ["src/platform/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@tauri-apps/*"],
              message:
                "Import from src/platform instead: it is the only module that talks to Tauri.",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        { name: "fetch", message: "The UI makes no network calls; ask Rust through src/platform." },
        {
          name: "WebSocket",
          message: "The UI makes no network calls; ask Rust through src/platform.",
        },
        {
          name: "XMLHttpRequest",
          message: "The UI makes no network calls; ask Rust through src/platform.",
        },
      ],
    },
  },
);
