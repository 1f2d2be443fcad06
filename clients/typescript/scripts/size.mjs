// The browser bundle, minified and gzipped, must stay within 15 KB.
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";

const LIMIT = 15 * 1024;
const bundle = await readFile(new URL("../dist/chat.min.js", import.meta.url));
const gz = gzipSync(bundle, { level: 9 }).length;
console.log(`dist/chat.min.js: ${bundle.length} bytes minified, ${gz} bytes gzipped (limit ${LIMIT})`);
if (gz > LIMIT) {
  console.error("the browser bundle is over its size limit");
  process.exit(1);
}
