#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` via the prepare script).
// `batch status|results` need none of the models: a light program answers them without loading the rest.
const light = process.argv[2] === 'batch' && (process.argv[3] === 'status' || process.argv[3] === 'results');
const { main } = await import(light ? '../dist/src/cli/batch-main.js' : '../dist/src/cli/main.js');

const code = await main(process.argv);
process.exitCode = code;
