// What cdrflow changes in kafkajs 2.2.4, installed before kafkajs loads: import this module before anything that
// imports kafkajs (core/kafka.ts does, first). Each change replaces kafkajs's module in the module cache, so kafkajs's
// own modules take the replacement when they load; each refuses to install once kafkajs has loaded without it.
//   - its produce path without its copies: the same bytes, built in one pass (core/kafkajs-produce.ts);
//   - its read_committed filter, corrected for transactions that abort out of order (core/kafkajs-read-committed.ts);
//   - a record's headers gathered in linear time, not quadratic (core/kafkajs-record-headers.ts);
//   - a record batch it cannot read is one marked record, not a crash at every fetch (core/kafkajs-unreadable-batch.ts).
import './kafkajs-produce.ts';
import './kafkajs-read-committed.ts';
// Before the batch decoder loads (kafkajs-unreadable-batch.ts loads it): it takes the record decoder then.
import './kafkajs-record-headers.ts';
import './kafkajs-unreadable-batch.ts';
