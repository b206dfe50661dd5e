/** The README's configuration table is the user's reference: it must list every variable with its real default. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { VARIABLES } from '../../src/config/config.ts';

test('README configuration table matches the config schema', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [name, [, def]] of Object.entries(VARIABLES)) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row, `README has no row for ${name}`);
    const shown = def === undefined ? '—' : def === '' ? '(empty)' : `\`${def}\``;
    assert.equal(row!.split('|')[2].trim(), shown, `default of ${name}`);
  }
});
