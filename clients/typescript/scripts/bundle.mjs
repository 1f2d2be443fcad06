// The browser bundle: one minified ES module with no dependency, the file a
// page imports. The local web client serves a copy, compiled into the
// server (local/web/chat.min.js, committed; test/run.sh fails if stale).
import { copyFile } from "node:fs/promises";
import { build } from "esbuild";

await build({
  entryPoints: [new URL("../src/index.ts", import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  outfile: new URL("../dist/chat.min.js", import.meta.url).pathname,
  legalComments: "none",
});
await copyFile(
  new URL("../dist/chat.min.js", import.meta.url),
  new URL("../../../local/web/chat.min.js", import.meta.url),
);
