#!/usr/bin/env node
// The `permit` command (the package's bin). Everything lives in cli.ts; this file only runs it.
import { runCli } from './cli.js';
import { processIo } from './io.js';

const code = await runCli(process.argv.slice(2), processIo());
// Exit at once: an idle keep-alive connection to the service must not hold the process open.
process.exit(code);
