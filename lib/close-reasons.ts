/** WebSocket-Node's close-reason constants and descriptions, shared by the public classes. */

/** `CLOSE_REASON_*` statics of WebSocketConnection, with their codes. */
export const CLOSE_REASONS = {
  CLOSE_REASON_NORMAL: 1000,
  CLOSE_REASON_GOING_AWAY: 1001,
  CLOSE_REASON_PROTOCOL_ERROR: 1002,
  CLOSE_REASON_UNPROCESSABLE_INPUT: 1003,
  CLOSE_REASON_RESERVED: 1004,
  CLOSE_REASON_NOT_PROVIDED: 1005,
  CLOSE_REASON_ABNORMAL: 1006,
  CLOSE_REASON_INVALID_DATA: 1007,
  CLOSE_REASON_POLICY_VIOLATION: 1008,
  CLOSE_REASON_MESSAGE_TOO_BIG: 1009,
  CLOSE_REASON_EXTENSION_REQUIRED: 1010,
  CLOSE_REASON_INTERNAL_SERVER_ERROR: 1011,
  CLOSE_REASON_TLS_HANDSHAKE_FAILED: 1015,
} as const;

/** Text used when a close carries no reason of its own (WebSocket-Node's `CLOSE_DESCRIPTIONS`). */
export const CLOSE_DESCRIPTIONS: Record<number, string> = {
  1000: 'Normal connection closure',
  1001: 'Remote peer is going away',
  1002: 'Protocol error',
  1003: 'Unprocessable input',
  1004: 'Reserved',
  1005: 'Reason not provided',
  1006: 'Abnormal closure, no further detail available',
  1007: 'Invalid data received',
  1008: 'Policy violation',
  1009: 'Message too big',
  1010: 'Extension requested by client is required',
  1011: 'Internal Server Error',
  1015: 'TLS Handshake Failed',
};

/**
 * The table text for a code. compat: like WebSocket-Node, codes without an entry (3000-4999) give
 * undefined at run time; the type says string, as `@types` has it.
 */
export function descriptionOf(code: number): string {
  return CLOSE_DESCRIPTIONS[code] as string;
}
