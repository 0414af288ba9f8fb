// Starts the pipeline's components in list order and stops them the way a clean stop needs: intake first (newest
// first, so the demo's pushes stop before the receiver), then — once `drain` says the stages caught up with what
// intake left in Kafka — the stages, newest first (normalize before the sink). A component that fails to start
// undoes the ones already started, and so does a stop asked for during start-up (before the next one starts, so
// intake, which starts last, never starts then). Every state change goes to the state board (/readyz, status, metrics).
import type { LogFn } from '../core/log.ts';
import type { Component } from './pipeline.ts';
import { StartCancelled, type ComponentState } from './supervise.ts';

export interface RunningPipeline {
  readonly components: readonly Component[];
  /** Stops everything in the order above; idempotent (a second call waits for the first). */
  stop(drain: () => Promise<void>): Promise<void>;
}

export async function startPipeline(
  components: Component[],
  hooks: { setState(name: string, state: ComponentState): void; fail(name: string, err: unknown): void; log: LogFn; say(msg: string): void },
  /** A stop asked for during start-up: no further component starts (intake never does), the started ones stop. */
  cancel?: AbortSignal,
): Promise<RunningPipeline> {
  const started: Component[] = [];
  const stopOne = async (c: Component) => {
    hooks.setState(c.name, 'stopping');
    hooks.say(`stopping ${c.name}`);
    try {
      await c.stop();
      hooks.setState(c.name, 'stopped');
    } catch (err) {
      hooks.log('warn', 'shutdown.step_failed', { component: c.name, error: String(err) });
    }
  };
  for (const c of components) {
    if (cancel?.aborted) {
      for (const s of started.reverse()) await stopOne(s);
      throw new StartCancelled(`stopped during start-up, before ${c.name} started`);
    }
    hooks.setState(c.name, 'starting');
    try {
      await c.start((err) => hooks.fail(c.name, err));
    } catch (err) {
      for (const s of started.reverse()) await stopOne(s);
      throw err;
    }
    started.push(c);
    hooks.setState(c.name, 'running');
  }
  let stopping: Promise<void> | undefined;
  return {
    components,
    stop(drain) {
      stopping ??= (async () => {
        const newestFirst = [...started].reverse();
        for (const c of newestFirst.filter((c) => c.role === 'intake')) await stopOne(c);
        await drain();
        for (const c of newestFirst.filter((c) => c.role === 'stage')) await stopOne(c);
      })();
      return stopping;
    },
  };
}
