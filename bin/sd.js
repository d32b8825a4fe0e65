#!/usr/bin/env node
// The `sd` CLI: a thin RPC client. Compiled code lives in dist/ (built by `npm install`).
import { runCli } from './run-cli.js';

runCli('sd');
