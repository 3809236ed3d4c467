#!/usr/bin/env node
// The `logstack` executable for Node: registers tsx's loader so the TypeScript CLI runs as is.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
