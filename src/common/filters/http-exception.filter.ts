import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../../config/env.schema.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toHttpError } from './http-error.js';

/** Every HTTP error leaves as `{"detail"}`; unexpected ones are logged with the request id. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');
  private readonly bodyLimit: number;

  constructor(config: ConfigService<Env, true>) {
    this.bodyLimit = config.get('BODY_LIMIT', { infer: true });
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const { status, detail } = toHttpError(exception, this.bodyLimit);
    if (status === 500) {
      const stack = exception instanceof Error ? exception.stack : String(exception);
      this.logger.error(`request ${request.id} ${request.method} ${request.url} failed: ${stack}`);
    }
    if (status === 401) {
      // RFC 6750: a challenge on every 401; `invalid_token` when a token was sent and refused.
      const sent = request.headers.authorization !== undefined;
      void reply.header('WWW-Authenticate', sent ? 'Bearer realm="parley", error="invalid_token"' : 'Bearer realm="parley"');
    }
    void reply.status(status).send({ detail });
  }
}
