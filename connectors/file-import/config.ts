// Options of one file import run.
import { z } from 'zod';
import { kafkaTopic, tenantName } from '../../core/zod-issues.ts';

export const IMPORT_VENDORS = ['huawei-privatenumber', 'alibaba-lvms'] as const;

/** Most records per acknowledged publish (`--batch`), and how many when it is not given. */
export const MAX_IMPORT_BATCH = 10_000;
export const DEFAULT_IMPORT_BATCH = 500;

export const ImportOptionsSchema = z.strictObject({
  vendor: z.enum(IMPORT_VENDORS),
  file: z.string().min(1),
  /**
   * Tenant for records that do not name one (all LVMS records; Huawei records without appKey). Blank is refused as
   * `cdrflow normalize --tenant` refuses it: an LVMS file imported under `--tenant " "` was stored under a tenant no
   * receiver, backfill or reconcile names. So is one with blanks around it (`"12345 "` from a copied line): the tenant
   * is part of every cdr_id, so the calls the receiver stored under `12345` were stored again, two rows a call. A `:` in
   * it is refused too (tenantProblem): it could make two calls' cdr_ids one.
   */
  tenant: tenantName()
    .min(1)
    .refine((t) => t.trim() !== '', 'must not be blank')
    .refine((t) => t.trim() === '' || t.trim() === t, 'must not begin or end with blanks (the tenant is part of every cdr_id)')
    .optional(),
  /** Target topic; default cdr.raw.<vendor>. */
  topic: kafkaTopic.optional(),
  batchSize: z.number().int().min(1).max(MAX_IMPORT_BATCH).default(DEFAULT_IMPORT_BATCH),
  maxReportedBadLines: z.number().int().min(0).default(100),
});
export type ImportOptions = z.infer<typeof ImportOptionsSchema>;
