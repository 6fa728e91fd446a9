import type { RawData, WebSocket } from 'ws';
import type { History } from '../messages/messages.service.js';
import { MAX_JSON_DEPTH, nestedDeeperThan, TOO_DEEP } from '../common/json-depth.js';
import { timestamp } from '../common/text.js';

/** Frame types a client may send, and the gateway handler each is routed to. */
const ROUTES: Record<string, string> = { text: 'message', image: 'message', file: 'message', typing: 'typing' };

export type RoutedFrame = { event: string; data: Record<string, unknown> } | { error: string };

/**
 * Parses one inbound frame and picks its handler, or says why it is refused. Every check
 * on a frame's shape is here: no pipe runs on socket messages (see `ApiController`).
 */
export function routeFrame(data: RawData, isBinary: boolean): RoutedFrame {
  if (isBinary) return { error: 'Binary frames are not supported; send JSON text frames' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString());
  } catch {
    return { error: 'Invalid JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { error: 'A frame must be a JSON object with a "type"' };
  }
  const type = (parsed as { type?: unknown }).type;
  if (typeof type !== 'string') return { error: 'A frame must be a JSON object with a "type"' };
  const event = Object.hasOwn(ROUTES, type) ? ROUTES[type] : undefined;
  if (!event) return { error: `Unknown message type: ${JSON.stringify(type.slice(0, 32))}` };
  if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) return { error: TOO_DEEP };
  return { event, data: parsed as Record<string, unknown> };
}

export function errorFrame(detail: string): string {
  return JSON.stringify({ type: 'error', detail });
}

export function sendError(ws: WebSocket, detail: string): void {
  if (ws.readyState === 1) ws.send(errorFrame(detail));
}

export function historyFrame(history: History): string {
  const recovered = history.recovered === undefined ? '' : `,"recovered":${history.recovered}`;
  return `{"type":"history","messages":[${history.page.join(',')}]${recovered}}`;
}

export function typingFrame(userId: string, roomId: string): string {
  return JSON.stringify({ type: 'typing', user_id: userId, room_id: roomId, timestamp: timestamp() });
}
