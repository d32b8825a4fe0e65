#!/usr/bin/env node
// The same CLI as `sd`, under a name no other package uses (see the README: Installing).
import { runCli } from './run-cli.js';

runCli('vdfs');
