// Huawei PrivateNumber's stand-in: fee-record generator, a pusher with the vendor's AK/SK signing and re-push
// schedule, and the recording API (301 to the file). For the demo, `cdrflow simulate` and tests.
export { startHuaweiPusher, HUAWEI_RETRY_SCHEDULE_MINUTES, type HuaweiPusher, type HuaweiPusherOptions, type HuaweiPusherStats, type PushAttempt } from './pusher.ts';
export { HuaweiFeeGenerator, callEventsFor, huaweiTime, type FeeRecord } from './generator.ts';
export { startRecordingApi, type RecordingApiStandIn, type RecordingApiBehaviour } from './recording-api.ts';
