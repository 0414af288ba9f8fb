// Sample records for the normalize stage's warm-up (service.ts runs its own per-chunk transform over them before it
// joins its consumer group, and sends nothing).
//
// Why: a fresh worker runs the mapping, the Avro codecs and the phone-number parser in V8's interpreter and baseline
// tiers until each function has run often enough to be optimized, a few thousand records; until then a record costs
// several times what it costs later (the pure mapping of a cold process: ~128 µs a record over its first 1,000
// records, 20–27 once warm). A job started into a high live rate therefore lagged in its first seconds. Measured with
// `npm run bench -- pipeline --modes latency --latency-rates 2000`, push → countable p99 over the first 10 s at the
// rate, three interleaved pairs each: 8,000 warm-up records 1,262 / 2,160 / 1,320 ms against 1,420 / 2,784 / 1,543
// without (raw → normalized p99 230 / 1,264 / 282 against 391 / 1,734 / 589); 4,000 records lower in two pairs of
// three only (docs/performance.md). The cost: ~0.6 s of one core per member at start-up, before it joins the group:
// the stage starts consuming that much later, and then at full speed. Off by default (`normalize.warmUpRecords` 0)
// until a crash-test failure seen with it on is explained (service/config.ts).
//
// The samples are the common shapes of each vendor's traffic, copied from the mapping's fixtures (named in `fixture`;
// warm-up.test.ts holds each one equal to its fixture and checks that it normalizes), so the optimized code is the
// code real records need. Each warm-up record gets its own natural key and its own mobile numbers, so the
// phone-number memo misses as it does on live traffic and the parser itself gets warm.
import type { RawEnvelope } from '../../core/envelope.ts';
import type { Vendor } from '../../core/topology.ts';
import { tenantOfRecord } from './normalize.ts';

export interface WarmUpSample {
  vendor: Vendor;
  /** The fixture this record is a copy of: transforms/normalize/fixtures/<vendor>/<fixture>.in.json. */
  fixture: string;
  record: Record<string, unknown>;
}

export const WARM_UP_SAMPLES: readonly WarmUpSample[] = [
  {
    vendor: 'tencent-ccc',
    fixture: 'transfer-two-legs-ivr-and-survey',
    record: {
      SessionId: 's-transfer', Caller: '13800138000', Callee: '008675512345678', CallerLocation: '广东深圳', Time: 1764547200,
      StartTimestamp: 1764547200, QueuedTimestamp: 1764547212, RingTimestamp: 1764547220, AcceptTimestamp: 1764547225,
      EndedTimestamp: 1764547410, Direction: 0, CallType: 2, Duration: 185, IVRDuration: 12, EndStatus: 1, EndStatusString: 'ok',
      HungUpSide: 'seat',
      SeatUser: { Name: 'Wang Fang', Mail: 'wangfang@example.com', StaffNumber: '1003', Nick: 'Fang', SkillGroupNameList: ['Tier 2'], Role: 3, ExtensionNumber: '2003' },
      SkillGroup: 'Tier 2', SkillGroupId: 2003, QueuedSkillGroupId: 2001, QueuedSkillGroupName: 'Billing support',
      RecordURL: 'https://ccc.example.com/rec/s-transfer.mp3', RecordId: 'rec-s-transfer',
      ServeParticipants: [
        {
          Sequence: 1, Type: 'staffSeat', Mail: 'wangfang@example.com', Phone: '', StartTimestamp: 1764547295, RingTimestamp: 1764547295,
          AcceptTimestamp: 1764547299, EndedTimestamp: 1764547410, SkillGroupId: 2003, SkillGroupName: 'Tier 2', EndStatusString: 'ok',
          TransferFrom: 'lilei@example.com', TransferFromType: 'staffSeat', RecordId: 'rec-leg-1', RecordURL: 'https://ccc.example.com/rec/leg1.mp3',
        },
        {
          Sequence: 0, Type: 'staffPhoneSeat', Mail: 'lilei@example.com', Phone: '008613900139000', StartTimestamp: 1764547220,
          RingTimestamp: 1764547220, AcceptTimestamp: 1764547225, EndedTimestamp: 1764547295, SkillGroupId: 2001,
          SkillGroupName: 'Billing support', EndStatusString: 'ok', TransferTo: 'wangfang@example.com', TransferToType: 'staffSeat',
          RecordId: 'rec-leg-0', RecordURL: 'https://ccc.example.com/rec/leg0.mp3',
        },
      ],
      IVRKeyPressedEx: [
        { Key: '2', Label: 'Support', Timestamp: 1764547205120, NodeLabel: 'main menu' },
        { Key: 'refund', Label: 'keyword', Timestamp: 1764547209999, NodeLabel: 'asr node', OriginalContent: 'I want a refund' },
      ],
      PostIVRKeyPressedEx: [{ Key: 'noInput', Label: '', Timestamp: 1764547412000, NodeLabel: 'survey' }],
      UUI: 'order=42',
      Uui: 'order=42',
    },
  },
  {
    vendor: 'tencent-ccc',
    fixture: 'outbound-not-answered',
    record: {
      SessionId: 's-noanswer', Caller: '008602161234567', Callee: '13700137000', Time: 1764547200, StartTimestamp: 1764547200,
      RingTimestamp: 1764547203, AcceptTimestamp: 0, EndedTimestamp: 1764547248, Direction: 1, CallType: 1, Duration: 0,
      EndStatus: 202, EndStatusString: 'notAnswer', HungUpSide: 'system',
      SeatUser: { Name: 'Han Meimei', Mail: 'hanmm@example.com', StaffNumber: '1002' },
      SkillGroup: '', SkillGroupId: 0, QueuedSkillGroupId: 2002, QueuedSkillGroupName: 'Outbound sales', RecordURL: '', RecordId: '',
    },
  },
  {
    vendor: 'tencent-trtc',
    fixture: 'normal-end-61s-video',
    record: {
      callId: 'c-61', sdkAppId: 1600000001, mediaType: 'video', roomId: 'room-c-61', startCallTs: 1764547200, acceptTs: 1764547207,
      endTs: 1764547268, caller: 'alice', totalUserNumber: 2, callType: 'single', callResult: 'normal_end', callees: ['bob'],
    },
  },
  {
    vendor: 'tencent-trtc',
    fixture: 'not-answer',
    record: {
      callId: 'c-notanswer', sdkAppId: 1600000001, mediaType: 'audio', roomId: 'room-c-notanswer', startCallTs: 1764547200, acceptTs: 0,
      endTs: 1764547230, caller: 'alice', totalUserNumber: 2, callType: 'single', callResult: 'not_answer', callees: ['bob'],
    },
  },
  {
    vendor: 'tencent-trtc',
    fixture: 'group-call',
    record: {
      callId: 'c-group', sdkAppId: 1600000001, mediaType: 'audio', roomId: 'room-c-group', startCallTs: 1764547200, acceptTs: 1764547205,
      endTs: 1764547505, caller: 'alice', totalUserNumber: 4, callType: 'group', callResult: 'normal_end', callees: ['bob', 'carol', 'dave'],
    },
  },
  {
    vendor: 'huawei-privatenumber',
    fixture: 'answered-61s',
    record: {
      direction: 1, spId: 'linlingoo_omp', appKey: 'V1Z96521zFr3vxe5N2A1UJ1sQ1WP', icid: 'ba171f34e6953fcd751edc77127748f4.3757223714.337238282.9',
      bindNum: '+8613800000022', sessionId: '1200_1029_4294967295_20190123091561@callenabler246.huaweicaas.com',
      subscriptionId: 'e97b2863-e7ad-4b4c-87c0-91b0171fe803', callerNum: '+8613800000021', calleeNum: '+8613800000022',
      fwdDisplayNum: '+8613800000022', fwdDstNum: '+8613866887021', callInTime: '2019-01-23 09:15:14', fwdStartTime: '2019-01-23 09:15:15',
      fwdAlertingTime: '2019-01-23 09:15:21', fwdAnswerTime: '2019-01-23 09:15:36', callEndTime: '2019-01-23 09:16:37', fwdUnaswRsn: 0,
      ulFailReason: 0, sipStatusCode: 0, callOutUnaswRsn: 0, recordFlag: 1, recordStartTime: '2019-01-23 09:15:37',
      recordDomain: 'ostor.huawei.com', recordBucketName: 'sp-v1z96521zfr3vxe5n2a1uj1sq1wp', recordObjectName: '19012309153712050118304.wav',
      ttsPlayTimes: 0, ttsTransDuration: 0, mptyId: 'e97b2863-e7ad-4b4c-87c0-91b0171fe803', serviceType: '004',
      hostName: 'callenabler246.huaweicaas.com',
    },
  },
  {
    vendor: 'huawei-privatenumber',
    fixture: 'unanswered-callee-busy-8102',
    record: {
      direction: 1, spId: 'linlingoo_omp', appKey: 'V1Z96521zFr3vxe5N2A1UJ1sQ1WP', icid: 'ba171f34e6953fcd751edc77127748f4.3757223714.337238282.9',
      bindNum: '+8613800000022', sessionId: '1200_1029_4294967295_20190123091601@callenabler246.huaweicaas.com',
      subscriptionId: 'e97b2863-e7ad-4b4c-87c0-91b0171fe803', callerNum: '+8613800000021', calleeNum: '+8613800000022',
      fwdDisplayNum: '+8613800000022', fwdDstNum: '+8613866887021', callInTime: '2019-01-23 09:15:14', fwdStartTime: '2019-01-23 09:15:15',
      fwdAlertingTime: '2019-01-23 09:15:21', callEndTime: '2019-01-23 09:15:51', fwdUnaswRsn: 17, ulFailReason: 8102, sipStatusCode: 486,
      callOutUnaswRsn: 0, recordFlag: 0, recordStartTime: '', recordDomain: '', recordBucketName: '', recordObjectName: '', ttsPlayTimes: 0,
      ttsTransDuration: 0, mptyId: 'e97b2863-e7ad-4b4c-87c0-91b0171fe803', serviceType: '004', hostName: 'callenabler246.huaweicaas.com',
    },
  },
  {
    vendor: 'alibaba-lvms',
    fixture: 'answered-61s',
    record: {
      call_record_id: 880061, robot_call_job_id: 5001, called_phone_number: '13800138000', result_status: 'ANSWERED',
      full_audio_url: 'https://lvms-audio.oss-cn-hangzhou.aliyuncs.com/record/880001.wav?Expires=1772440000&Signature=x', chat_duration: 61,
      start_time: '2025-12-02 10:00:00', end_time: '2025-12-02 10:01:15', name: '张三', properties: '{"loan_id":"L-20260301-7","overdue_days":12}',
      intent_level_detail_name: 'A级(较强)', tenant_phone_number_id: 77, phone_number: '02161234567', intent_level_code: 0, intent_level_tag_id: 0,
    },
  },
  {
    vendor: 'alibaba-lvms',
    fixture: 'result-no-answer',
    record: {
      call_record_id: 881000, robot_call_job_id: 5001, called_phone_number: '13800138000', result_status: 'NO_ANSWER', full_audio_url: '',
      chat_duration: 0, start_time: '2025-12-02 10:00:00', end_time: '2025-12-02 10:00:35', name: '张三',
      properties: '{"loan_id":"L-20260301-7","overdue_days":12}', intent_level_detail_name: 'F级(无需跟进)', tenant_phone_number_id: 77,
      phone_number: '02161234567', intent_level_code: 5, intent_level_tag_id: 0,
    },
  },
];

/**
 * Chinese mobile numbers as vendor payloads write them (a bare 11-digit number, not inside a longer run of digits):
 * what the warm-up and the benchmark's records replace to give each record its own numbers.
 */
export const MOBILE_IN_PAYLOAD = /(?<!\d)1[3-9]\d{9}(?!\d)/g;

/**
 * `count` envelopes cycling through the samples, from the `first`-th on, each with its own natural key and, where
 * the sample has a mobile number, its own numbers (`13` + the record's index, nine digits). Deterministic: a chunk
 * asked for with `first` is the same as that slice of one long call, so the warm-up builds one chunk at a time.
 */
export function warmUpEnvelopes(count: number, receivedAt: Date, first = 0): RawEnvelope[] {
  const templates = WARM_UP_SAMPLES.map((s) => ({ vendor: s.vendor, tenant: tenantOfRecord(s.vendor, s.record) ?? 'warm-up', payload: JSON.stringify(s.record) }));
  return Array.from({ length: count }, (_, k) => {
    const i = first + k;
    const t = templates[i % templates.length]!;
    let n = 0;
    return {
      vendor: t.vendor,
      tenant_id: t.tenant,
      natural_key: `warm-up-${i}`,
      received_at: receivedAt,
      connector: 'warm-up',
      mode: 'live',
      request_id: null,
      payload: t.payload.replace(MOBILE_IN_PAYLOAD, () => `13${String((i * 7 + n++) % 1_000_000_000).padStart(9, '0')}`),
      payload_format: 'json',
      attributes: {},
    };
  });
}
