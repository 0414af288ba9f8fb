import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatZodIssues, zodIssues } from './zod-issues.ts';

describe('zod issues', () => {
  const schema = z.strictObject({ port: z.number().int(), apps: z.array(z.strictObject({ key: z.string().min(1) })) });
  const error = schema.safeParse({ port: 1.5, apps: [{ key: '' }], extra: true }).error!;

  it('lists every problem with its dotted path', () => {
    const problems = zodIssues(error);
    expect(problems.map((p) => p.path).sort()).toEqual(['(root)', 'apps.0.key', 'port']);
    expect(problems.find((p) => p.path === '(root)')!.message).toMatch(/extra/);
  });

  it('formats one problem per line after the bullet', () => {
    const lines = formatZodIssues(error, '* ').split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\* (\(root\)|apps\.0\.key|port): ./);
  });
});
