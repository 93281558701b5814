/**
 * permessage-deflate (RFC 7692) negotiation for both ends: the server picks an offer and answers
 * it, the client makes its offer and checks the answer, and the agreement is kept as a
 * `connection.extensions` entry. Pure: strings in, parameters out.
 */
import { formatExtension, parseExtensionHeader, type ExtensionElement } from './extension-header';

/** The extension's registered name. */
export const EXTENSION_NAME = 'permessage-deflate';

/** User options (the `perMessageDeflate` config key as an object). */
export interface DeflateOptions {
  /** Server resets its compression context after each message (RFC 7692 §7.1.1.1). */
  serverNoContextTakeover?: boolean | undefined;
  /** Client resets its compression context after each message (RFC 7692 §7.1.1.2). */
  clientNoContextTakeover?: boolean | undefined;
  /** LZ77 window of the server's compressor, 8-15 (RFC 7692 §7.1.2.1). */
  serverMaxWindowBits?: number | undefined;
  /** LZ77 window of the client's compressor, 8-15 (RFC 7692 §7.1.2.2). */
  clientMaxWindowBits?: number | undefined;
  /** zlib compression level, 0-9. */
  level?: number | undefined;
  /** zlib memory level, 1-9. */
  memLevel?: number | undefined;
  /** Messages shorter than this many bytes are sent uncompressed (default 1024). */
  threshold?: number | undefined;
  /** zlib jobs in flight at once, process-wide (default 10). */
  concurrencyLimit?: number | undefined;
}

/** What both ends agreed on (RFC 7692 §7.1). */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** Window of the server's compressor (8-15). */
  serverMaxWindowBits: number;
  /** Window of the client's compressor (8-15). */
  clientMaxWindowBits: number;
}

/** Normalises the config value: true or an object enables the extension; anything else disables it. */
export function deflateOptionsFrom(value: unknown): DeflateOptions | null {
  if (value === true) return {};
  if (value !== null && typeof value === 'object') return value as DeflateOptions;
  return null;
}

function isWindowBits(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 8 && value <= 15;
}

function parseWindowBits(value: string | true): number | null {
  // RFC 7692 §7.1.2.1: "a decimal integer value without leading zeros between 8 to 15, inclusive".
  if (value === true || !/^(?:[89]|1[0-5])$/.test(value)) return null;
  const bits = Number(value);
  return isWindowBits(bits) ? bits : null;
}

/**
 * Server side (RFC 7692 §5, §7.1): the parameters to answer one client offer with, or null when the
 * offer is not acceptable (unknown or repeated parameters, values out of range), so the next offer
 * can be tried and the handshake still succeeds without the extension.
 */
export function acceptOffer(offer: ExtensionElement, options: DeflateOptions): DeflateParams | null {
  const seen = new Set<string>();
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits: number | null = null;
  let clientMaxWindowBits: number | true | null = null;
  for (const [key, value] of offer.params) {
    // RFC 7692 §7: a repeated parameter makes the offer invalid.
    if (seen.has(key)) return null;
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
        if (value !== true) return null;
        serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== true) return null;
        clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = parseWindowBits(value);
        if (bits === null) return null;
        serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true) {
          clientMaxWindowBits = true;
        } else {
          const bits = parseWindowBits(value);
          if (bits === null) return null;
          clientMaxWindowBits = bits;
        }
        break;
      }
      default:
        // RFC 7692 §7: an unknown parameter makes the offer unacceptable.
        return null;
    }
  }
  const ownServerBits = isWindowBits(options.serverMaxWindowBits) ? options.serverMaxWindowBits : 15;
  const ownClientBits = isWindowBits(options.clientMaxWindowBits) ? options.clientMaxWindowBits : 15;
  // A client that did not offer client_max_window_bits cannot take a limit on its window (§7.1.2.2).
  if (clientMaxWindowBits === null && ownClientBits < 15) return null;
  return {
    serverNoContextTakeover: serverNoContextTakeover || options.serverNoContextTakeover === true,
    clientNoContextTakeover: clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: Math.min(serverMaxWindowBits ?? 15, ownServerBits),
    clientMaxWindowBits: Math.min(typeof clientMaxWindowBits === 'number' ? clientMaxWindowBits : 15, ownClientBits),
  };
}

/** The server's response element for agreed parameters; `offeredClientBits` says whether the client named client_max_window_bits. */
export function formatServerResponse(params: DeflateParams, offer: ExtensionElement): string {
  const out: Array<readonly [string, string | true]> = [];
  if (params.serverNoContextTakeover) out.push(['server_no_context_takeover', true]);
  if (params.clientNoContextTakeover) out.push(['client_no_context_takeover', true]);
  const offered = new Map(offer.params);
  if (params.serverMaxWindowBits < 15 || offered.has('server_max_window_bits')) {
    out.push(['server_max_window_bits', String(params.serverMaxWindowBits)]);
  }
  if (offered.has('client_max_window_bits') && params.clientMaxWindowBits < 15) {
    out.push(['client_max_window_bits', String(params.clientMaxWindowBits)]);
  }
  return formatExtension({ name: EXTENSION_NAME, params: out });
}

/** Client side: the offer to send (RFC 7692 §5.1). */
export function formatClientOffer(options: DeflateOptions): string {
  const params: Array<readonly [string, string | true]> = [];
  if (options.serverNoContextTakeover === true) params.push(['server_no_context_takeover', true]);
  if (options.clientNoContextTakeover === true) params.push(['client_no_context_takeover', true]);
  if (isWindowBits(options.serverMaxWindowBits)) params.push(['server_max_window_bits', String(options.serverMaxWindowBits)]);
  params.push(['client_max_window_bits', isWindowBits(options.clientMaxWindowBits) ? String(options.clientMaxWindowBits) : true]);
  return formatExtension({ name: EXTENSION_NAME, params });
}

/**
 * Client side: checks the server's response against what we offered (RFC 7692 §5.1: the client
 * "MUST _Fail the WebSocket Connection_" on a response it cannot accept). Returns the agreed
 * parameters or an error message.
 */
export function acceptResponse(element: ExtensionElement, options: DeflateOptions): DeflateParams | string {
  if (element.name !== EXTENSION_NAME) return `Server accepted an extension we did not offer: ${element.name}`;
  const seen = new Set<string>();
  const params: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: options.clientNoContextTakeover === true,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: isWindowBits(options.clientMaxWindowBits) ? options.clientMaxWindowBits : 15,
  };
  for (const [key, value] of element.params) {
    if (seen.has(key)) return `Invalid permessage-deflate response: repeated parameter ${key}`;
    seen.add(key);
    if (key === 'server_no_context_takeover' && value === true) {
      params.serverNoContextTakeover = true;
    } else if (key === 'client_no_context_takeover' && value === true) {
      params.clientNoContextTakeover = true;
    } else if (key === 'server_max_window_bits') {
      const bits = parseWindowBits(value);
      if (bits === null) return 'Invalid permessage-deflate response: server_max_window_bits';
      if (isWindowBits(options.serverMaxWindowBits) && bits > options.serverMaxWindowBits) {
        return 'Invalid permessage-deflate response: server_max_window_bits above the offer';
      }
      params.serverMaxWindowBits = bits;
    } else if (key === 'client_max_window_bits') {
      const bits = parseWindowBits(value);
      if (bits === null) return 'Invalid permessage-deflate response: client_max_window_bits';
      if (bits > params.clientMaxWindowBits) return 'Invalid permessage-deflate response: client_max_window_bits above the offer';
      params.clientMaxWindowBits = bits;
    } else {
      return `Invalid permessage-deflate response: unexpected parameter ${key}`;
    }
  }
  if (options.serverNoContextTakeover === true && !params.serverNoContextTakeover) {
    return 'Invalid permessage-deflate response: server_no_context_takeover was required';
  }
  return params;
}

/** The `connection.extensions` entry for agreed parameters (read back by `paramsFromExtension`). */
export function describeParams(params: DeflateParams): { name: string; value: string } {
  const parts: string[] = [];
  if (params.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (params.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (params.serverMaxWindowBits < 15) parts.push(`server_max_window_bits=${params.serverMaxWindowBits}`);
  if (params.clientMaxWindowBits < 15) parts.push(`client_max_window_bits=${params.clientMaxWindowBits}`);
  return { name: EXTENSION_NAME, value: parts.join('; ') };
}

/**
 * Agreed parameters from a `connection.extensions` entry (`{ name, value }`, value being the
 * negotiated parameter list), or null when the entry is not a valid permessage-deflate agreement.
 */
export function paramsFromExtension(extension: { name: string; value?: string | undefined }): DeflateParams | null {
  if (extension.name !== EXTENSION_NAME) return null;
  const params: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  const value = extension.value ?? '';
  for (const part of value.split(';')) {
    const [rawKey = '', rawBits] = part.split('=');
    const key = rawKey.trim();
    const bits = rawBits === undefined ? null : parseWindowBits(rawBits.trim());
    if (key === '') continue;
    if (key === 'server_no_context_takeover') params.serverNoContextTakeover = true;
    else if (key === 'client_no_context_takeover') params.clientNoContextTakeover = true;
    else if (key === 'server_max_window_bits' && bits !== null) params.serverMaxWindowBits = bits;
    else if (key === 'client_max_window_bits' && bits !== null) params.clientMaxWindowBits = bits;
    else return null;
  }
  return params;
}

/**
 * Server side: picks the first acceptable permessage-deflate offer of a request's header (RFC 7692
 * §5: offers are in preference order) and returns the response element with the agreed parameters,
 * or null when there is none (the handshake then goes on without the extension).
 */
export function negotiateOffers(header: string, options: DeflateOptions): { response: string; params: DeflateParams } | null {
  const elements = parseExtensionHeader(header);
  if (elements === null) return null;
  for (const element of elements) {
    if (element.name !== EXTENSION_NAME) continue;
    const params = acceptOffer(element, options);
    if (params !== null) return { response: formatServerResponse(params, element), params };
  }
  return null;
}

/**
 * Client side: the agreed parameters from the server's Sec-WebSocket-Extensions answer, or the
 * message to fail the handshake with (RFC 6455 §4.1: an extension the client did not offer fails it).
 */
export function acceptServerExtensions(header: string, options: DeflateOptions | null): DeflateParams | string {
  const elements = parseExtensionHeader(header);
  if (elements === null) return 'Invalid Sec-WebSocket-Extensions header from the server';
  if (options === null || elements.length !== 1) {
    return 'Server responded with an extension that was not offered';
  }
  return acceptResponse(elements[0]!, options);
}

