/**
 * Normalises an identifier that names a person (userName, email, group displayName) for
 * comparison and uniqueness: Unicode NFC, then case folding.
 *
 * JavaScript has no full case-fold primitive; upper- then lower-casing folds the cases that
 * matter for identifiers (for example `ß` and `SS` compare equal, as in Unicode full case
 * folding), and NFC is applied again after folding. The database enforces uniqueness on this
 * form, so both backends agree regardless of collation.
 */
export function normalizeIdentifier(value: string): string {
  return value.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
}

/**
 * A UTF-16 surrogate without its pair: not a Unicode scalar value, so UTF-8 cannot carry it
 * (RFC 3629 §3) and a database stores U+FFFD in its place. JSON can spell one (`"\\ud800"`,
 * RFC 8259 §8.2), so text from outside is checked with this.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `value` holds a UTF-16 surrogate without its pair (see {@link LONE_SURROGATE}). */
export function hasLoneSurrogate(value: string): boolean {
  return LONE_SURROGATE.test(value);
}
