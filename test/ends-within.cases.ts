// Functions test/ends-within.test.ts calls in a thread through test/ends-within.ts.

export function returns(n: number): { n: number; at: Date } {
  return { n, at: new Date(n) };
}

export function throws(message: string): never {
  throw new RangeError(message);
}

export function loops(): never {
  for (;;) {
    // as a decode whose count of items is a lie
  }
}
