#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` via the prepare script).
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv);
process.exitCode = code;
