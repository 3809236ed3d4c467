/**
 * Every command the README shows is claimed by exactly one play of the README test, and every claimed
 * command is still in the README. Pure: reads the README and the plays, needs no sandbox, so a README edit
 * that adds an unclaimed command fails in a second rather than at the end of the suite.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadReadmeCommands } from './readme-commands.ts';
import { PLAYS } from './plays.ts';

const README = join(fileURLToPath(new URL('../..', import.meta.url)), 'README.md');

describe('README claims', () => {
  it('claims every command of the README exactly once, and nothing the README does not say', () => {
    const commands = loadReadmeCommands(README);
    const claimed = Object.values(PLAYS).flat() as string[];
    const texts = new Set(commands.map((c) => c.text));
    const unclaimed = commands.filter((c) => !claimed.includes(c.text)).map((c) => `README:${c.line} ${c.text}`);
    assert.deepEqual(unclaimed, [], 'README commands no play runs');
    assert.deepEqual(claimed.filter((c) => !texts.has(c)), [], 'claimed commands the README no longer has');
    assert.equal(new Set(claimed).size, claimed.length, 'a command claimed twice');
    assert.ok(commands.length >= 60, `only ${commands.length} README commands found — is the parser broken?`);
  });
});
