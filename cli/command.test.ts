// runCommand runs what the command's helpers left to atCommandEnd, however the command and each ending end.
import { describe, expect, it } from 'vitest';
import { atCommandEnd, runCommand, type Command } from './command.ts';

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
