#!/usr/bin/env node
// The `logstack` executable for Node: the CLI is TypeScript, run as is by Node's own type stripping (no
// loader). Node refuses to strip types under node_modules, which is fine: the package is private and
// runs from its checkout (or an `npm link` of it). An older Node is told so instead of failing on `.ts`.
if (!process.features.typescript) {
  process.stderr.write(
    `logstack runs its TypeScript with Node's type stripping: it needs Node 24 (or 22.18 and later); this is Node ${process.versions.node}\n`,
  );
  process.exit(1);
}
const { exitQuietlyOnClosedPipe, runCli } = await import('./cli.ts');
exitQuietlyOnClosedPipe();
process.exitCode = await runCli(process.argv.slice(2));
