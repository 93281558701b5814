/**
 * The event dispatch W3CWebSocket uses, matching WebSocket-Node's (yaeti): the `on<type>` property
 * handler runs first, then listeners in the order added; adding the same listener twice is a no-op.
 */

/** An event as W3CWebSocket dispatches it. */
export interface DispatchedEvent {
  type: string;
  isTrusted?: boolean;
  target?: unknown;
  cancelable?: boolean;
  defaultPrevented?: boolean;
  stopImmediatePropagation?: () => void;
  [key: string]: unknown;
}

/** A listener function; `this` is the target. */
export type EventListenerFn = (this: unknown, event: DispatchedEvent) => void;

/** Makes a plain event object of `type` with extra fields (WebSocket-Node's yaeti.Event shape). */
export function createEvent(type: string, fields?: Record<string, unknown>): DispatchedEvent {
  const event: DispatchedEvent = { type, isTrusted: false, _yaeti: true };
  if (fields !== undefined) Object.assign(event, fields);
  return event;
}

/** Listener lists by type, as kept in WebSocket-Node's `_listeners`. */
export type ListenerMap = Record<string, EventListenerFn[] | undefined>;

/** Adds `listener` for `type` unless it is already there. */
export function addListener(listeners: ListenerMap, type: string, listener: unknown): void {
  if (!type || typeof listener !== 'function') return;
  const list = (listeners[type] ??= []);
  if (!list.includes(listener as EventListenerFn)) list.push(listener as EventListenerFn);
}

/** Removes `listener` for `type`. */
export function removeListener(listeners: ListenerMap, type: string, listener: unknown): void {
  const list = listeners[type];
  if (list === undefined) return;
  const index = list.indexOf(listener as EventListenerFn);
  if (index !== -1) list.splice(index, 1);
  if (list.length === 0) delete listeners[type];
}

/** Dispatches `event` on `target`: `on<type>` first, then the listeners; returns !defaultPrevented. */
export function dispatch(target: object, listeners: ListenerMap, event: DispatchedEvent): boolean {
  if (event === null || typeof event !== 'object' || typeof event.type !== 'string') {
    throw new Error('`event` must have a valid `type` property');
  }
  let stopped = false;
  if (event['_yaeti'] === true) {
    event.target = target;
    event.cancelable = true;
  }
  event.stopImmediatePropagation = (): void => {
    stopped = true;
  };
  const handler = (target as Record<string, unknown>)['on' + event.type];
  if (typeof handler === 'function') (handler as EventListenerFn).call(target, event);
  // A copy, so listeners removed or added during dispatch do not disturb this round.
  for (const listener of (listeners[event.type] ?? []).slice()) {
    if (stopped) break;
    listener.call(target, event);
  }
  return event.defaultPrevented !== true;
}
