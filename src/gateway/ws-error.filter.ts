import { type ArgumentsHost, Catch, Logger, type WsExceptionFilter } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { DomainError } from '../common/errors/domain-error.js';
import { sendError } from './frames.js';

/** The socket side of error translation: a domain error becomes `{"type":"error","detail"}`; the socket stays open. */
@Catch()
export class WsErrorFilter implements WsExceptionFilter {
  private readonly logger = new Logger('WebSocket');

  catch(exception: unknown, host: ArgumentsHost): void {
    this.send(host.switchToWs().getClient<WebSocket>(), exception);
  }

  /** The error frame for what a frame handler threw (also called by the adapter, see `directFrameHandlers`). */
  send(ws: WebSocket, exception: unknown): void {
    if (exception instanceof DomainError) return sendError(ws, exception.message);
    if (exception instanceof WsException) return sendError(ws, String(exception.message));
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    sendError(ws, 'Internal Server Error');
  }
}
