// Waiting for the live stages: a reconcile compares layers, so it first lets normalize and the sink catch up with
// what Kafka holds (seconds on a running pipeline); a repair re-feeds records and waits for them to come through.
import type { Kafka } from '../core/kafka.ts';
import { groupLag, stageLag } from '../core/kafka-streams.ts';

export interface StageGroups {
  normalize: { groupId: string; topics: string[] };
  sink: { groupId: string; topic: string };
}

export interface DrainResult {
  drained: boolean;
  normalizeLag: number;
  sinkLag: number;
}

// Deadlines and idle times are durations: measured on the monotonic clock, so a wall clock stepped back (NTP, a VM
// resumed) does not keep a reconcile waiting that much longer on a stage that is not running, nor one stepped forward
// end the wait at once.

/**
 * Polls both stages' lag until it is 0, the deadline passes, or nothing moved for `idleMs` (no stage is running:
 * records wait in Kafka until the pipeline runs again).
 */
export async function waitForStages(kafka: Kafka, groups: StageGroups, opts: { timeoutMs: number; idleMs?: number }): Promise<DrainResult> {
  const deadline = performance.now() + opts.timeoutMs;
  const idleMs = opts.idleMs ?? 10_000;
  let last = { normalizeLag: -1, sinkLag: -1 };
  let lastChange = performance.now();
  for (;;) {
    // A lag that cannot be read right now (a broker still settling a new topic's metadata) counts as not drained.
    const now = {
      normalizeLag: await stageLag(kafka, groups.normalize.groupId, groups.normalize.topics).catch(() => -1),
      sinkLag: await stageLag(kafka, groups.sink.groupId, [groups.sink.topic]).catch(() => -1),
    };
    if (now.normalizeLag === 0 && now.sinkLag === 0) return { drained: true, ...now };
    if (now.normalizeLag !== last.normalizeLag || now.sinkLag !== last.sinkLag) lastChange = performance.now();
    last = now;
    if (performance.now() >= deadline || performance.now() - lastChange >= idleMs) return { drained: false, ...now };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Waits until the stages have processed what Kafka held when the call began: normalize's committed offsets reach the
 * raw topics' ends as they were then, and afterwards the sink's reach the normalized topic's end as it was once
 * normalize got there. Unlike `waitForStages` it ends on a live pipeline, where new records keep the lag above 0.
 */
export async function waitForSnapshot(kafka: Kafka, groups: StageGroups, opts: { timeoutMs: number; idleMs?: number; signal?: AbortSignal }): Promise<{ caughtUp: boolean; behind: number }> {
  const deadline = performance.now() + opts.timeoutMs;
  const idleMs = opts.idleMs ?? 15_000;
  const reached = async (groupId: string, topics: string[], ends?: Map<string, number>) => {
    const parts = await groupLag(kafka, groupId, topics);
    const target = ends ?? new Map(parts.map((p) => [`${p.topic}:${p.partition}`, p.end]));
    const behind = parts.reduce((s, p) => s + Math.max(0, (target.get(`${p.topic}:${p.partition}`) ?? 0) - p.committed), 0);
    return { target, behind };
  };
  const until = async (groupId: string, topics: string[]) => {
    let ends: Map<string, number> | undefined;
    let last = -1;
    let lastMove = performance.now();
    for (;;) {
      opts.signal?.throwIfAborted();
      const r = await reached(groupId, topics, ends).catch(() => undefined);
      if (r) {
        ends ??= r.target;
        if (r.behind === 0) return 0;
        if (r.behind !== last) lastMove = performance.now();
        last = r.behind;
        // Nothing moved for a while: the stage is not running; its records wait in Kafka.
        if (performance.now() >= deadline || performance.now() - lastMove >= idleMs) return r.behind;
      } else if (performance.now() >= deadline) return -1;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const normalizeBehind = await until(groups.normalize.groupId, groups.normalize.topics);
  const sinkBehind = await until(groups.sink.groupId, [groups.sink.topic]);
  return { caughtUp: normalizeBehind === 0 && sinkBehind === 0, behind: Math.max(0, normalizeBehind) + Math.max(0, sinkBehind) };
}
