// Metric label values that come from outside cdrflow: a vendor's error codes, the codes of the errors a component
// restarted on. Every distinct label value is a series of its own, kept in memory and written on every /metrics
// scrape for the life of the process, so a vendor API that answers with a new code each time (a request id inside
// it, a faulty or hostile gateway) would grow both without end. A BoundedLabels gives the first `limit` well-formed
// values a series each and folds every later or malformed value into one `other` series.

/** What a label value from outside may look like to get a series of its own: a short code, printable, no quotes. */
const PLAIN_LABEL = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The label that counts every value past the limit, and every value that is not a plain code. */
export const OTHER_LABEL = 'other';

/** Distinct codes per metric family that get a series each: far more than any vendor documents as retryable. */
export const MAX_CODE_LABELS = 40;

export class BoundedLabels {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number = MAX_CODE_LABELS) {}

  /** The label to count `value` under: itself once admitted, else `other`. */
  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit || !PLAIN_LABEL.test(value)) return OTHER_LABEL;
    this.seen.add(value);
    return value;
  }
}
