// The normalized CDR v2 (schemas/cdr-normalized.avsc) as TypeScript. Field names are the Avro names; timestamps
// are Dates (core/avro.ts maps timestamp-millis to Date). Keep this file and the schema in step: a unit test
// validates every fixture against the schema.
import type { Vendor } from '../../core/topology.ts';

export const END_STATUSES = [
  'ANSWERED',
  'NO_ANSWER',
  'BUSY',
  'REJECTED',
  'CANCELLED',
  'ABANDONED',
  'UNREACHABLE',
  'BLOCKED',
  'FAILED',
  'SYSTEM_ERROR',
  'UNKNOWN',
] as const;
export type EndStatus = (typeof END_STATUSES)[number];

export type Direction = 'INBOUND' | 'OUTBOUND' | 'INTERNAL' | 'UNKNOWN';
export type Channel = 'PSTN' | 'VOIP' | 'VIDEO' | 'UNKNOWN';
export type PartyType = 'PHONE' | 'APP_USER' | 'PROTECTED' | 'UNKNOWN';
export type HangupSide = 'CALLER' | 'CALLEE' | 'AGENT' | 'SYSTEM' | 'UNKNOWN';

export interface Party {
  type: PartyType;
  value: string;
  e164: boolean;
  hashed: boolean;
  location: string | null;
}

export interface Leg {
  sequence: number;
  type: string | null;
  agent: string | null;
  agent_phone: string | null;
  skill_group_id: string | null;
  skill_group_name: string | null;
  started_at: Date | null;
  ringing_at: Date | null;
  answered_at: Date | null;
  ended_at: Date | null;
  talk_seconds: number;
  end_status_text: string | null;
  transfer_from: string | null;
  transfer_to: string | null;
  recording_url: string | null;
}

export interface IvrKey {
  phase: 'IVR' | 'SURVEY';
  key: string;
  label: string | null;
  at: Date | null;
  node_label: string | null;
}

export interface NormalizedCdr {
  cdr_id: string;
  vendor: Vendor;
  tenant_id: string;
  natural_key: string;
  direction: Direction;
  channel: Channel;
  call_type: string | null;
  caller: Party | null;
  callees: Party[];
  started_at: Date | null;
  queued_at: Date | null;
  ringing_at: Date | null;
  answered_at: Date | null;
  ended_at: Date | null;
  ring_seconds: number | null;
  queue_seconds: number | null;
  ivr_seconds: number | null;
  talk_seconds: number;
  total_seconds: number | null;
  billable_seconds: number;
  billable_minutes: number;
  billing_rule: string;
  end_status: EndStatus;
  vendor_status_code: string | null;
  vendor_status_text: string | null;
  hangup_side: HangupSide | null;
  agent_id: string | null;
  agent_name: string | null;
  skill_group_id: string | null;
  skill_group_name: string | null;
  legs: Leg[];
  ivr_keys: IvrKey[];
  recording_url: string | null;
  recording_ref: string | null;
  intent_level: string | null;
  extras: Record<string, string>;
  raw_topic: string | null;
  raw_partition: number;
  raw_offset: number;
  received_at: Date;
  ingest_mode: 'live' | 'backfill' | 'import';
  mapping_version: string;
  /** Contract v2: the media room of an app call (TRTC); null for telephony and for v1-written records. */
  room_id: string | null;
}
