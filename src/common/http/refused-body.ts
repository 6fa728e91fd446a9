import type { FastifyReply, FastifyRequest } from 'fastify';

/** How long a client may go on sending a body that was refused before its connection is cut. */
const DRAIN_MS = 5_000;

/**
 * Lets a client that is still sending a refused body read the refusal, and bounds how long
 * it may go on sending. Called from an `onSend` hook, before the headers are written.
 *
 * Fastify answers 413 as soon as the declared length is over `BODY_LIMIT` and marks the
 * response `Connection: close`. Node then closes the socket while the client is still
 * writing; the kernel answers the unread bytes with a reset, and the client sees EPIPE or
 * ECONNRESET instead of the 413 (the bigger the body, the likelier). Without that header,
 * Node reads the rest of the body and throws it away (nothing is buffered), as nginx's
 * lingering close does, and the connection stays usable once the body is read. The same
 * happens to a body refused unread for another reason (a 415): it is drained, not parsed.
 * Either way a client still sending `DRAIN_MS` after the answer loses its connection,
 * rather than being read for as long as Node's request timeout (5 minutes).
 */
export function drainRefusedBody(req: FastifyRequest, reply: FastifyReply): void {
  if (reply.statusCode < 400 || req.raw.complete) return;
  if (reply.statusCode === 413 && reply.getHeader('connection') === 'close') void reply.removeHeader('connection');
  const raw = req.raw;
  const socket = raw.socket;
  reply.raw.once('finish', () => {
    if (raw.complete) return;
    const cut = setTimeout(() => socket.destroy(), DRAIN_MS);
    cut.unref();
    const settle = (): void => clearTimeout(cut);
    raw.once('end', settle);
    socket.once('close', settle);
  });
}
