// Configuration of the HTTP receiver itself (listening, limits, timeouts). The push vendors' sections are added by
// connectors/push-vendors.ts, which plugs their routes in.
import { z } from 'zod';
import { MAX_PARTITION_SEND_BYTES } from '../../core/kafka.ts';
import { timerMs } from '../../core/zod-issues.ts';

export const receiverServerFields = {
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 = any free port (tests); the bound port is returned by startReceiver. */
  port: z.number().int().min(0).max(65535).default(8088),
  /** A Huawei batch is at most 50 CDRs (~2 KB each); 1 MiB leaves room without letting one client eat memory. */
  bodyLimitBytes: z.number().int().min(1024).default(1024 * 1024),
  /**
   * Request bodies held in memory at once, over all requests: bodies are read before a route can check who sent them,
   * so without it enough connections would hold bodyTimeoutMs of bandwidth each. 64 pushes at the body limit.
   */
  bodyBudgetBytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /**
   * Connections open at once; one more is closed unread. Bodies have their budget, but a connection still sending its
   * headers holds up to 16 KiB (about 27 KiB of the process each) for headersTimeoutMs. Huawei pushes one connection
   * per push and the vendors push a few at a time, so legitimate pushes hold tens: 4,096 is 2,000 single-record pushes
   * a second (the design's rate) answered in 2 s, and bounds the headers to about 110 MiB.
   */
  maxConnections: z.number().int().min(1).default(4_096),
  /**
   * Requests one connection may have waiting for their answers while a push on it waits for its body or Kafka; the
   * next is answered "retry later" after the answers owed, and the connection closed. Node keeps reading requests
   * pipelined behind an unanswered one: 20,000 small pushes were held behind one waiting for Kafka. What Node may
   * buffer of their bodies counts against bodyBudgetBytes, and so do their headers. The vendors send one push at a time.
   */
  maxPipelinedRequests: z.number().int().min(1).default(8),
  /** Time allowed to receive the headers, and then the whole body. A slow sender gets the vendor's timeout error. */
  headersTimeoutMs: timerMs().min(100).default(10_000),
  bodyTimeoutMs: timerMs().min(100).default(10_000),
  keepAliveTimeoutMs: timerMs().min(100).default(5_000),
  /**
   * A connection whose client reads none of the answers waiting for it for this long is closed: Node stops reading
   * it, but it held its socket, its slot of maxConnections and those answers for ever. Node sees the client's reads
   * only each time about half the socket's send buffer is free again, so a client reading at least a send buffer (at
   * most 4 MiB with Linux's defaults) per period is never cut: 70 KB/s at 60 s, a few hundred answers a second.
   */
  unreadAnswerTimeoutMs: timerMs().min(100).default(60_000),
  /** Longest wait for Kafka's acknowledgement before answering "retry later". */
  ackTimeoutMs: timerMs().min(100).default(10_000),
  /** stop() lets in-flight requests finish for this long, then closes what is left. */
  shutdownGraceMs: timerMs().min(0).default(15_000),
  /** Upper bounds of one group-commit produce call (the byte bound keeps under the broker's message.max.bytes). */
  maxBatchRecords: z.number().int().min(1).default(2_000),
  maxBatchBytes: z.number().int().min(1024).default(MAX_PARTITION_SEND_BYTES),
  healthPath: z.string().startsWith('/').default('/healthz'),
};

/**
 * A smaller budget would answer every push near the body limit "retry later", for ever. One check for every schema
 * built of receiverServerFields (this one, and the receiver section with its push vendors).
 */
export const bodyBudgetCoversLimit = z.refine<{ bodyLimitBytes: number; bodyBudgetBytes: number }>((c) => c.bodyBudgetBytes >= c.bodyLimitBytes, {
  path: ['bodyBudgetBytes'],
  message: 'must be at least bodyLimitBytes',
});

export const ReceiverServerConfigSchema = z.strictObject(receiverServerFields).check(bodyBudgetCoversLimit);
export type ReceiverServerConfig = z.infer<typeof ReceiverServerConfigSchema>;
