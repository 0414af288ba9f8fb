// runCommand runs what the command's helpers left to atCommandEnd, however the command and each ending end.
import { describe, expect, it } from 'vitest';
import { ExitError, UsageError, atCommandEnd, commandFailure, runCommand, type Command } from './command.ts';

const command = (run: () => Promise<number>): Command => ({ name: 'test', summary: '', usage: '', run });

describe('runCommand', () => {
  it('runs every ending even when one throws, and never lets an ending hide the command\'s own error', async () => {
    const ran: string[] = [];
    const failing = command(async () => {
      atCommandEnd(() => {
        ran.push('first');
        throw new Error('first ending');
      });
      atCommandEnd(() => ran.push('second'));
      throw new Error('the command');
    });
    await expect(runCommand(failing, [])).rejects.toThrow('the command');
    expect(ran).toEqual(['first', 'second']);
  });

  it('returns the command\'s code, or the first ending\'s error when the command succeeded', async () => {
    expect(await runCommand(command(async () => (atCommandEnd(() => undefined), 3)), [])).toBe(3);
    const ran: string[] = [];
    const ok = command(async () => {
      atCommandEnd(() => {
        throw new Error('first ending');
      });
      atCommandEnd(() => ran.push('second'));
      return 0;
    });
    await expect(runCommand(ok, [])).rejects.toThrow('first ending');
    expect(ran).toEqual(['second']);
  });
});

describe('commandFailure', () => {
  it('shows what a command threw printably, line breaks kept: text quoted from outside may carry a bidi override or an escape sequence', () => {
    const hostile = 'vendor said: \u202eevil\u202c\rok\x1b[2J\u200b\u0085';
    expect(commandFailure('sql', new Error(`${hostile}\nsecond line`), 'Usage: x')).toEqual({
      text: 'cdrflow sql: vendor said: \\u202eevil\\u202c\\u000dok\\u001b[2J\\u200b\\u0085\nsecond line',
      code: 1,
    });
    expect(commandFailure('sql', new ExitError(69, hostile), 'Usage: x')).toEqual({ text: 'cdrflow sql: vendor said: \\u202eevil\\u202c\\u000dok\\u001b[2J\\u200b\\u0085', code: 69 });
    expect(commandFailure('sql', hostile, 'Usage: x').text).toBe('cdrflow sql: vendor said: \\u202eevil\\u202c\\u000dok\\u001b[2J\\u200b\\u0085');
    // The usage is the command's own text, printed as it is under the message.
    expect(commandFailure('sql', new UsageError(`bad ${hostile}`), 'Usage: x\n  --flag  y')).toEqual({
      text: 'cdrflow sql: bad vendor said: \\u202eevil\\u202c\\u000dok\\u001b[2J\\u200b\\u0085\n\nUsage: x\n  --flag  y',
      code: 64,
    });
  });

  it('leaves a message already escaped (terminalLines at its source) as it was', () => {
    const once = 'format \\u202e: Unknown format\n\n  SELECT \\u001b[2J\n  ^';
    expect(commandFailure('sql', new Error(once), '').text).toBe(`cdrflow sql: ${once}`);
  });
});
