import type { WebSocket } from 'ws';

/**
 * A socket's inbound frames wait until its connection is open (room and user
 * checked, history written), so the history frame is always the first frame a
 * client receives. The gateway sets the gate; the adapter honours it.
 */
const gates = new WeakMap<WebSocket, Promise<boolean>>();

export function setGate(ws: WebSocket, opened: Promise<boolean>): void {
  gates.set(ws, opened);
}

export function gateOf(ws: WebSocket): Promise<boolean> | undefined {
  return gates.get(ws);
}
