// The one way cdrflow puts its own code in place of a kafkajs 2.2.4 module (core/kafkajs-setup.ts lists the changes):
// the replacement goes into Node's module cache under the module's own path, so kafkajs's modules that require it
// take the replacement when they load. A module that already loaded took kafkajs's own, so each change first refuses
// to install if any of the modules that take it has loaded.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Throws, naming `change`, if any of `users` (kafkajs modules that take the replaced one at load) has loaded already. */
export function refuseIfKafkajsLoaded(change: string, users: readonly string[]): void {
  for (const user of users) {
    if (require.cache[require.resolve(user)]) throw new Error(`kafkajs loaded before ${change}: import core/kafkajs-setup.ts (or core/kafka.ts) before kafkajs`);
  }
}

/** Puts `make(kafkajs's own)` in place of kafkajs's module at `path` (e.g. 'kafkajs/src/…/x.js'); returns kafkajs's own. */
export function replaceKafkajsModule<T>(path: string, make: (own: T) => unknown): T {
  const resolved = require.resolve(path);
  const own = require(resolved) as T;
  const cached = require.cache[resolved];
  if (!cached) throw new Error(`kafkajs's ${path} is not in the module cache`);
  cached.exports = make(own);
  return own;
}
