#!/usr/bin/env node
// A stand-in for a native `solc` binary, built on solc-js (the official compiler compiled to wasm).
// py-solc-x (used by ape-solidity) calls only `--version` and `--standard-json`; this file answers
// both. Imports are resolved from --base-path, --include-path and --allow-paths folders.
// It never exits right after writing: piped stdout would be cut at 64 KiB.
"use strict";
const fs = require("fs");
const path = require("path");

const args = process.argv.slice(2);
const solcPkg = process.env.ASSAY_SOLCJS || "solc";
const solc = require(solcPkg);

function optionValues(name) {
  const out = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) out.push(...args[i + 1].split(","));
    else if (args[i].startsWith(name + "=")) out.push(...args[i].slice(name.length + 1).split(","));
  }
  return out.filter(Boolean);
}

if (args.includes("--version")) {
  // py-solc-x parses "Version: X.Y.Z+commit.<hash>"
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
} else if (args.includes("--standard-json")) {
  const roots = [...optionValues("--base-path"), ...optionValues("--include-path"), ...optionValues("--allow-paths"), process.cwd()];
  const findImports = (p) => {
    const candidates = path.isAbsolute(p) ? [p] : roots.map((r) => path.resolve(r, p));
    for (const c of candidates) {
      try {
        return { contents: fs.readFileSync(c, "utf8") };
      } catch (_) { /* try next root */ }
    }
    return { error: "File not found: " + p + " (searched " + roots.join(", ") + ")" };
  };
  const input = fs.readFileSync(0, "utf8");
  const output = solc.compile(input, { import: findImports });
  process.stdout.write(output, () => { process.exitCode = 0; });
} else {
  process.stderr.write("solc-shim: only --version and --standard-json are supported\n");
  process.exitCode = 2;
}
