import type { FastifyReply, FastifyRequest } from 'fastify';

/** How long a client still sending an oversized body may go on before its connection is cut. */
const OVERSIZE_DRAIN_MS = 5_000;

/**
 * Lets a client that sent a body over `BODY_LIMIT` read its 413.
 *
 * Fastify answers 413 as soon as the declared length is too large and marks the response
 * `Connection: close`. Node then closes the socket while the client is still writing; the kernel
 * answers the unread bytes with a reset, and the client sees EPIPE or ECONNRESET instead of the
 * 413 (the bigger the body, the likelier). Instead, the rest of the body is read and thrown away
 * (nothing is buffered), the way nginx's lingering close does, for at most `OVERSIZE_DRAIN_MS`; a client
 * still sending after that loses its connection. Once the body has been read the connection is
 * clean and stays open for the next request.
 *
 * Called from an `onSend` hook, before the headers are written.
 */
export function drainIfOversized(req: FastifyRequest, reply: FastifyReply): void {
  if (reply.statusCode === 413 && !req.raw.complete && reply.getHeader('connection') === 'close') {
    void reply.removeHeader('connection');
    lingerUntilRead(req, reply);
  }
}

function lingerUntilRead(req: FastifyRequest, reply: FastifyReply): void {
  const raw = req.raw;
  const socket = raw.socket;
  // Node reads and discards an unread body once the response is finished (`req._dump()`);
  // a body Fastify stopped reading halfway is still flowing with no listener, likewise discarded.
  reply.raw.once('finish', () => {
    if (raw.complete) return;
    const cut = setTimeout(() => socket.destroy(), OVERSIZE_DRAIN_MS);
    cut.unref();
    const settle = (): void => clearTimeout(cut);
    raw.once('end', settle);
    socket.once('close', settle);
  });
}
