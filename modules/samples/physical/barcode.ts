// Barcodes of physical samples (API.md, Physical samples). A lab may bring its own barcodes (any
// 1–64 of [A-Za-z0-9._-]); the service assigns `VL-` + 9 random base-36 characters + one ISO 7064
// MOD 37,36 check character when none is given. Every character is in Code 128 set B, and the
// check character is alphanumeric, so the text prints and scans as it is. Uniqueness within a
// lab ignores case: the reservation key is the upper-cased barcode.

export const BARCODE_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const ASSIGNED_PREFIX = 'VL-';
export const ASSIGNED_BODY_LENGTH = 9;
const ASSIGNED_PATTERN = /^VL-[0-9A-Z]{10}$/;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const MODULUS = 36;

/** True when `text` is an acceptable barcode (client-given or assigned). */
export function isValidBarcode(text: string): boolean {
  return BARCODE_PATTERN.test(text);
}

/** The case-insensitive identity of a barcode: what uniqueness and lookup compare. */
export function normaliseBarcode(text: string): string {
  return text.toUpperCase();
}

function valueOf(char: string): number {
  const value = ALPHABET.indexOf(char.toUpperCase());
  if (value < 0) throw new RangeError(`not an alphanumeric character: ${JSON.stringify(char)}`);
  return value;
}

/**
 * ISO 7064 hybrid system MOD 37,36 over the alphanumeric characters of `text` (others, such as
 * the prefix's hyphen, are skipped): the check character that makes the whole string verify.
 */
export function mod3736CheckCharacter(text: string): string {
  let p = MODULUS;
  for (const char of text) {
    if (!/[0-9A-Za-z]/.test(char)) continue;
    const s = (p + valueOf(char)) % MODULUS || MODULUS;
    p = (s * 2) % (MODULUS + 1);
  }
  return ALPHABET[(MODULUS + 1 - p) % MODULUS]!;
}

/** True when the last character of `text` is the MOD 37,36 check character of the rest. */
export function hasValidCheckCharacter(text: string): boolean {
  if (text.length < 2) return false;
  const last = text.slice(-1).toUpperCase();
  return /[0-9A-Z]/.test(last) && mod3736CheckCharacter(text.slice(0, -1)) === last;
}

/** True for a barcode in the service's own format with a correct check character. */
export function isAssignedBarcode(text: string): boolean {
  const upper = normaliseBarcode(text);
  return ASSIGNED_PATTERN.test(upper) && hasValidCheckCharacter(upper);
}

/**
 * A new barcode from a source of random bytes (injected: pure and repeatable in tests).
 * Bytes of 252 and above are skipped so each character is equally likely (252 = 7 × 36).
 */
export function generateBarcode(randomBytes: (size: number) => Uint8Array): string {
  let body = '';
  while (body.length < ASSIGNED_BODY_LENGTH) {
    for (const byte of randomBytes(ASSIGNED_BODY_LENGTH)) {
      if (byte >= 252 || body.length === ASSIGNED_BODY_LENGTH) continue;
      body += ALPHABET[byte % MODULUS];
    }
  }
  const unchecked = `${ASSIGNED_PREFIX}${body}`;
  return `${unchecked}${mod3736CheckCharacter(unchecked)}`;
}

/**
 * The stream that reserves a barcode within a lab (appended with "no stream", as usernames are):
 * one per lab and case-insensitive barcode, so two tubes of a lab can never share one.
 */
export const barcodeReservationStreamId = (labId: string, barcode: string): string =>
  `barcode-${labId}-${normaliseBarcode(barcode)}`;

/** The refusal when the reservation exists already (API.md: 409 barcode_taken). */
export const barcodeTaken = (barcode: string) => ({
  code: 'barcode_taken',
  message: `the barcode ${barcode} is already used in this lab`,
  status: 409,
});
