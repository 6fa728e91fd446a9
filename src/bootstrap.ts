import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AppModule } from './app.module.js';
import { answerClientError } from './common/http/client-error.js';
import { Cors } from './common/http/cors.js';
import { drainRefusedBody } from './common/http/refused-body.js';
import { type Env, parseTrustProxy } from './config/env.schema.js';
import { ChatGateway } from './gateway/chat.gateway.js';
import { ChatWsAdapter } from './gateway/chat-ws.adapter.js';
import { UpgradeLimiter } from './throttle/upgrade-limiter.js';

export const API_PREFIX = 'api/v1';

/**
 * Header names are written in lower case, as Fastify stores and sends them: a mixed-case
 * name costs Fastify a new lower-cased string and a string-table lookup on every answer.
 */
const REQUEST_ID_HEADER = 'x-request-id';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a caller's `X-Request-Id` when it is sane, otherwise makes one. */
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Builds the whole application (not listening yet). Used by `main.ts` and by the tests. */
export async function createApp(env: Env): Promise<NestFastifyApplication> {
  const requestTimeoutMs = env.REQUEST_TIMEOUT * 1000;
  const adapter = new FastifyAdapter({
    bodyLimit: env.BODY_LIMIT,
    // Fastify's default is no limit: a client trickling a body could hold a connection for ever.
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      // Node checks its timeouts every 30 s by default; check often enough for short ones.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, requestTimeoutMs / 4)),
    },
    // Requests Node's parser refuses before Fastify sees them: same `{"detail"}` shape.
    clientErrorHandler: answerClientError,
    trustProxy: env.TRUST_PROXY ? parseTrustProxy(env.TRUST_PROXY) : false,
    requestIdHeader: false,
    genReqId: requestId,
    logger: false,
    // Ids are at most 64 characters; longer path segments are simply unknown (404), not a 414.
    routerOptions: { maxParamLength: 2048 },
    // Fastify's own refusals before routing (a malformed URL): same `{"detail"}` shape.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      void reply
        .status(400)
        .header(REQUEST_ID_HEADER, req.id)
        .send({ detail: err.code === 'FST_ERR_BAD_URL' ? 'Malformed URL' : 'Bad Request' });
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(env), adapter, {
    // Start-up lines are held until the pino logger takes over (JSON from the first line).
    bufferLogs: true,
    // Fastify's own JSON parser only: no urlencoded bodies (they are a 415).
    bodyParser: false,
  });
  app.useLogger(app.get(PinoNestLogger));
  const fastify = app.getHttpAdapter().getInstance();

  // CORS on every answer Fastify sends, and a preflight route (src/common/http/cors.ts).
  const cors = new Cors(env.CORS_ORIGINS);
  cors.register(fastify);
  // onSend, not onRequest: it also covers answers sent before or without a handler (404, 413, 415, preflights).
  fastify.addHook('onSend', (req: FastifyRequest, reply: FastifyReply, payload: unknown, done) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    cors.apply(req, reply);
    drainRefusedBody(req, reply);
    done(null, payload);
  });
  // JSON only: a text/plain body is a 415, not a string for the validator.
  fastify.removeContentTypeParser(['text/plain']);

  app.useWebSocketAdapter(
    new ChatWsAdapter(app, { env, limiter: app.get(UpgradeLimiter), gateway: () => app.get(ChatGateway) }),
  );
  app.setGlobalPrefix(API_PREFIX, { exclude: ['health', 'health/ready', 'metrics'] });
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Parley')
      .setDescription(
        'Real-time chat API. REST for rooms, users and messages; a WebSocket per room at ' +
          '`/api/v1/ws/{room_id}/{user_id}` (see docs/websocket-protocol.md). Every error body is `{"detail": "..."}`.',
      )
      .setVersion('1.0')
      .addBearerAuth({
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'Only when authentication is on (AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY set): a JWT whose `sub` is the ' +
          'Parley user id; `"admin": true` to create users. See docs/authentication.md.',
      })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
