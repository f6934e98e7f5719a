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
