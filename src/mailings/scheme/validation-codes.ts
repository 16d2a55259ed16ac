/**
 * Stable codes of scheme validation errors. The editor keys its hints on them and the API returns
 * them, so they are append-only.
 */
export const schemeErrorCodes = [
  /** Not the expected JSON structure (not an object, a list missing, a field of the wrong type, too many items). */
  'invalid_shape',
  /** A field that the scheme, the block or the link does not have. */
  'unknown_field',
  /** Two blocks (or two links) share an id. */
  'duplicate_id',
  /** A send block without a channel, or with an unknown one. */
  'invalid_channel',
  'no_start_block',
  'multiple_start_blocks',
  /** The start block is a delay or a goal. */
  'invalid_start_block',
  /** A link names a block that does not exist. */
  'unknown_block',
  'unreachable_block',
  'cycle',
  /** A link kind the source block cannot have (ivr from SMS, next from a send block, status from a delay...). */
  'invalid_link_kind',
  /** A status link without a status, or with one its channel does not report. */
  'invalid_status',
  'invalid_response_words',
  'invalid_digits',
  /** An ivr link (or ivr status) on a call whose IVR menu does not have that key. */
  'digit_not_in_menu',
  'invalid_error_reason',
  'goal_has_links',
  'delay_link_count',
  'decision_time_out_of_bounds',
  'delay_out_of_bounds',
  'invalid_content',
  /** Two links of one block that would fire on the same event (same status, word, digit or error). */
  'duplicate_link',
] as const;
export type SchemeErrorCode = (typeof schemeErrorCodes)[number];

export interface SchemeValidationError {
  /** The block the problem is in (or the source block of a bad link); null for scheme-wide problems. */
  block: string | null;
  link: string | null;
  code: SchemeErrorCode;
  /** English, names the block/link; see schemeErrorTitlesRu for the Russian UI. */
  message: string;
  /** Path of the bad field inside the block or link (e.g. "content.text"), or in the scheme when neither is known. */
  field: string | null;
}
