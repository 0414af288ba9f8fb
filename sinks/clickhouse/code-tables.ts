// Fills `<db>.end_status_codes` and `<db>.end_statuses` from the normalize code tables (the same data the mapping
// uses, so the table can never disagree with the rows). Idempotent: ReplacingMergeTree keeps the newest refresh.
import type { ClickHouseClient } from '@clickhouse/client';
import { END_STATUSES } from '../../transforms/normalize/cdr.ts';
import { CCC_END_STATUS } from '../../transforms/normalize/codes/tencent-ccc.ts';
import { TRTC_CALL_RESULT } from '../../transforms/normalize/codes/tencent-trtc.ts';
import { RESULT_STATUSES } from '../../transforms/normalize/codes/alibaba-lvms.ts';
import { Q850_CAUSES, RELEASE_POINTS, SIP_STATUS_CODES } from '../../transforms/normalize/codes/huawei-privatenumber.ts';
import { INSERT_WRITE_MS, runBounded } from '../../core/clickhouse.ts';
import { classifyClickHouseError } from './errors.ts';

export interface CodeRow {
  vendor: string;
  code_field: string;
  code: string;
  end_status: string;
  description: string;
}

export const END_STATUS_DESCRIPTIONS: Readonly<Record<(typeof END_STATUSES)[number], string>> = {
  ANSWERED: 'Connected; billing starts at answer',
  NO_ANSWER: 'Rang, nobody answered in time',
  BUSY: 'Callee busy',
  REJECTED: 'Callee declined',
  CANCELLED: 'Caller hung up before the callee answered',
  ABANDONED: 'Caller gave up in IVR, queue or while ringing',
  UNREACHABLE: 'Powered off, vacant, out of service or offline',
  BLOCKED: 'Blacklist, frequency or area control',
  FAILED: 'Network, carrier or client error',
  SYSTEM_ERROR: 'Vendor platform error',
  UNKNOWN: 'Vendor code not in the documented tables (raw code kept on the row)',
};

export function codeRows(): CodeRow[] {
  const rows: CodeRow[] = [];
  for (const [code, m] of Object.entries(CCC_END_STATUS)) rows.push({ vendor: 'tencent-ccc', code_field: 'EndStatus', code, end_status: m.status, description: `${m.text}: ${m.meaning}` });
  for (const [code, m] of Object.entries(TRTC_CALL_RESULT)) rows.push({ vendor: 'tencent-trtc', code_field: 'callResult', code, end_status: m.status, description: m.meaning });
  for (const [code, m] of Object.entries(RESULT_STATUSES)) rows.push({ vendor: 'alibaba-lvms', code_field: 'result_status', code, end_status: m.status, description: m.text });
  const huawei: [string, Readonly<Record<number, { status: string | null; text: string }>>][] = [
    ['ulFailReason', RELEASE_POINTS],
    ['fwdUnaswRsn', Q850_CAUSES],
    ['sipStatusCode', SIP_STATUS_CODES],
  ];
  for (const [field, table] of huawei) {
    for (const [code, m] of Object.entries(table)) {
      // null = "this source does not decide": the next source in the Huawei order does.
      rows.push({ vendor: 'huawei-privatenumber', code_field: field, code, end_status: m.status ?? '', description: m.text });
    }
  }
  return rows;
}

export async function refreshCodeTables(client: ClickHouseClient, database: string): Promise<number> {
  const refreshed_at = Date.now();
  const rows = codeRows().map((r) => ({ ...r, refreshed_at }));
  try {
    const settings = { insert_deduplication_token: '' };
    await runBounded(client, { what: 'the end-status codes', ms: INSERT_WRITE_MS, table: `${database}.end_status_codes`, values: { format: 'JSONEachRow', rows }, settings });
    await runBounded(client, {
      what: 'the end statuses',
      ms: INSERT_WRITE_MS,
      table: `${database}.end_statuses`,
      values: { format: 'JSONEachRow', rows: END_STATUSES.map((s) => ({ end_status: s, description: END_STATUS_DESCRIPTIONS[s], refreshed_at })) },
      settings,
    });
  } catch (err) {
    throw classifyClickHouseError(err);
  }
  return rows.length;
}
