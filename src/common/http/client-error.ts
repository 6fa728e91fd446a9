import type { Socket } from 'node:net';
import { refuseOnSocket } from './raw-error.js';

/**
 * Answers a request Node's HTTP parser refused before Fastify saw it (a malformed request
 * line or header, headers over Node's 16 KiB, a request not received in full within
 * `REQUEST_TIMEOUT`) in the same shape as every other error: `{"detail": "..."}` with an
 * `X-Request-Id`, then closes the connection. Fastify's default answers
 * `{"error", "message", "statusCode"}` instead.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection, or one already closed: nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Node's own rule: no answer when one is already under way on this connection.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refuseOnSocket(socket, 408, 'Request not received in full within REQUEST_TIMEOUT');
  else if (err.code === 'HPE_HEADER_OVERFLOW') refuseOnSocket(socket, 431, 'Request headers are too large');
  else refuseOnSocket(socket, 400, 'Malformed HTTP request');
}
