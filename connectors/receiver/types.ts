// The contract between the HTTP receiver (transport: limits, timeouts, shutdown, metrics, Kafka acks) and the vendor
// routes (auth, parsing, response shapes). A route never touches Kafka directly: it hands envelopes to `publish`,
// which resolves only after Kafka acknowledged them and throws a retryable CdrflowError otherwise.
import type { IncomingHttpHeaders } from 'node:http';
import type { RawEnvelope } from '../../core/envelope.ts';

/** Where envelopes go. Production: RawEnvelopePublisher (Avro + acks=all). Tests may inject their own. */
export interface EnvelopeSink {
  publish(envelopes: RawEnvelope[], topic: string): Promise<void>;
}

export interface IncomingPush {
  method: string;
  path: string;
  query: URLSearchParams;
  /**
   * The query string as sent (after `?`, still percent-encoded): `query` decodes bytes that are not UTF-8 into U+FFFD,
   * so a route that must tell another charset from a typo reads them here.
   */
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Push id assigned on receipt (uuid); stored as the envelopes' request_id. */
  requestId: string;
  receivedAt: Date;
}

/**
 * What the receiver made of a request: the `outcome` label of its metrics (the alert rules match these names). `busy`
 * is the route's `unavailable` answer given because the bodies held at once reached bodyBudgetBytes (or a connection
 * pipelined past maxPipelinedRequests), not for Kafka,
 * and (route `none`, code `dropped`) a connection closed unread because maxConnections were open.
 */
export const OUTCOMES = ['accepted', 'auth_failed', 'bad_request', 'unavailable', 'busy', 'too_large', 'timeout', 'not_found', 'method_not_allowed', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface PushReply {
  status: number;
  contentType: string;
  body: string;
  outcome: Outcome;
  /** Vendor result code (Huawei resultcode, TOP code/sub_code) for the `code` metric label and logs. */
  code: string;
  /** Records stored by this request (only on `accepted`). */
  records?: number;
  detail?: string;
}

export interface RouteContext {
  now(): number;
  publish(envelopes: RawEnvelope[], topic: string): Promise<void>;
}

/**
 * Failures the transport detects before or around a route; each route renders them in its vendor's shape.
 * `transfer_coding` (501) and `content_coding` (415) are refused before the body is read, both with outcome
 * `bad_request`: a body gzipped on the way would otherwise be stored (or refused as not JSON) as it came.
 */
export type TransportFailure = 'too_large' | 'timeout' | 'unavailable' | 'method_not_allowed' | 'transfer_coding' | 'content_coding' | 'error';

/** What `authorize` made of the headers: a refusal, answered at once, or what they established, handed to `handle`. */
export type Authorization<Grant> = { refusal: PushReply } | { grant: Grant };

/** `Grant`: what a route's `authorize` established from the headers (a checked signature), so `handle` need not redo it. */
export interface Route<Grant = unknown> {
  /** The vendor this route receives for (metrics label `vendor`). */
  name: string;
  paths: string[];
  /** Every topic the route publishes to (created and counted by the receiver before the first push). */
  topics: string[];
  methods: string[];
  /**
   * What the headers alone tell (a signature that does not cover the body), checked before the body is read: a
   * refusal is answered at once and the body never read, so a sender who cannot sign costs no memory. Its grant is
   * passed to `handle` of the same request.
   */
  authorize?(push: Pick<IncomingPush, 'query' | 'headers' | 'requestId'>): Authorization<Grant>;
  /** `grant` is what `authorize` returned for this request (undefined for a route without `authorize`). */
  handle(push: IncomingPush, ctx: RouteContext, grant?: Grant): Promise<PushReply>;
  failure(kind: TransportFailure, push: Pick<IncomingPush, 'query' | 'headers' | 'requestId'>, detail: string): PushReply;
}
