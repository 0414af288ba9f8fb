// `cdrflow sql --format`: a value that is no format name is refused before anything else runs, and named quoted, so a
// control character typed in it (or pasted) does not reach the terminal as a sequence it acts on.
import { expect, it } from 'vitest';
import { UsageError } from '../command.ts';
import { command } from './sql.ts';

it('an invalid --format is a usage error naming the value quoted, its control characters escaped', async () => {
  const err = await command.run(['SELECT 1', '--format', 'CSV\u001b[2J\r']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toBe('invalid format "CSV\\u001b[2J\\r"');
});
