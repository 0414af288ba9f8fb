// The push vendors plugged into the receiver: each one's config section and route. The receiver framework
// (connectors/receiver/) knows no vendor; a new push vendor is one section and one route here.
import { z } from 'zod';
import { bodyBudgetCoversLimit, receiverServerFields } from './receiver/config.ts';
import { startReceiverServer, type ReceiverDeps, type RunningReceiver } from './receiver/receiver.ts';
import type { Route } from './receiver/types.ts';
import { HuaweiReceiverConfigSchema } from './huawei-privatenumber/config.ts';
import { createHuaweiRoute } from './huawei-privatenumber/receiver-route.ts';
import { LvmsReceiverConfigSchema } from './alibaba-lvms/config.ts';
import { createLvmsRoute } from './alibaba-lvms/receiver-route.ts';

/** The `receiver` section: the server's settings, and a section per push vendor (a route exists only when configured). */
export const ReceiverConfigSchema = z
  .strictObject({
    ...receiverServerFields,
    huawei: HuaweiReceiverConfigSchema.optional(),
    lvms: LvmsReceiverConfigSchema.optional(),
  })
  .refine((c) => c.huawei !== undefined || c.lvms !== undefined, {
    message: 'configure at least one of huawei, lvms',
  })
  .check(bodyBudgetCoversLimit);

export type ReceiverConfig = z.infer<typeof ReceiverConfigSchema>;
export type ReceiverConfigInput = z.input<typeof ReceiverConfigSchema>;

/** The routes of the configured push vendors. */
export function pushRoutes(config: ReceiverConfig, now: () => number): Route[] {
  const routes: Route[] = [];
  if (config.huawei) routes.push(createHuaweiRoute(config.huawei, { now }));
  if (config.lvms) routes.push(createLvmsRoute(config.lvms, { now }));
  return routes;
}

/** The receiver with the configured push vendors' routes. */
export async function startReceiver(input: ReceiverConfigInput, deps: ReceiverDeps = {}): Promise<RunningReceiver> {
  const config = ReceiverConfigSchema.parse(input);
  return startReceiverServer(config, pushRoutes(config, deps.now ?? Date.now), deps);
}
