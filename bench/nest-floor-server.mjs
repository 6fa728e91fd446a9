// The framework's floor, for comparison only: the baseline's own REST operations,
// imported from bench/baseline-server.mjs (the same rate-limit script, validation,
// existence checks and store script), served by NestJS on the Fastify adapter, as Parley
// is, and nothing else: one controller, no guards, pipes, interceptors, hooks, CORS,
// metrics or logger.
// What this server costs over the baseline is what NestJS + Fastify cost on their own;
// what Parley costs over this server is Parley's own layers. REST only (the routes the
// bench's REST scenario uses, plus /health); no WebSocket.
//
//   BENCH_SCENARIOS=rest BENCH_PARLEY_MAIN=bench/nest-floor-server.mjs npm run bench    floor / baseline
//   BENCH_SCENARIOS=rest BENCH_BASELINE_MAIN=bench/nest-floor-server.mjs npm run bench  Parley / floor
//
// Env: as bench/baseline-server.mjs.

import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { Body, Controller, Get, HttpCode, HttpException, Module, Param, Post, Req, Res } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { HOST, HttpError, PORT, createRoom, createUser, listMessages, postMessage, throttle } from './baseline-server.mjs';

/** The baseline's per-request part: the rate-limit script, its headers, a request id; its errors as Nest's. */
async function answer(req, res, work) {
  const limited = await throttle(req.ip);
  if (limited.blocked) throw new HttpException({ detail: 'Too Many Requests' }, 429);
  const rl = limited.headers;
  res.header('x-ratelimit-limit', rl['X-RateLimit-Limit']);
  res.header('x-ratelimit-remaining', rl['X-RateLimit-Remaining']);
  res.header('x-ratelimit-reset', rl['X-RateLimit-Reset']);
  res.header('x-request-id', randomUUID());
  res.header('content-type', 'application/json; charset=utf-8');
  try {
    return Buffer.from(await work());
  } catch (err) {
    if (err instanceof HttpError) throw new HttpException({ detail: err.message }, err.status);
    throw err;
  }
}

/** The baseline's REST operations (JSON bodies parsed by Fastify, as Parley's are). */
class FloorController {
  health() {
    return { status: 'ok' };
  }

  createRoom(body, req, res) {
    return answer(req, res, () => createRoom(body ?? {}));
  }

  createUser(body, req, res) {
    return answer(req, res, () => createUser(body ?? {}));
  }

  send(roomId, body, req, res) {
    return answer(req, res, () => postMessage(roomId, body ?? {}));
  }

  list(roomId, req, res) {
    const q = req.url.indexOf('?');
    return answer(req, res, () => listMessages(roomId, q < 0 ? '' : req.url.slice(q + 1)));
  }
}

// Decorators applied by hand (plain JavaScript has no decorator syntax): what `@Get()`, `@Body()`... do.
const routes = {
  health: [Get('health')],
  createRoom: [Post('api/v1/rooms'), HttpCode(200)],
  createUser: [Post('api/v1/users'), HttpCode(200)],
  send: [Post('api/v1/rooms/:room_id/messages'), HttpCode(200)],
  list: [Get('api/v1/rooms/:room_id/messages')],
};
const params = {
  health: [],
  createRoom: [Body(), Req(), Res({ passthrough: true })],
  createUser: [Body(), Req(), Res({ passthrough: true })],
  send: [Param('room_id'), Body(), Req(), Res({ passthrough: true })],
  list: [Param('room_id'), Req(), Res({ passthrough: true })],
};
const proto = FloorController.prototype;
for (const [method, decorators] of Object.entries(routes)) {
  const descriptor = Object.getOwnPropertyDescriptor(proto, method);
  for (const decorate of decorators) decorate(proto, method, descriptor);
  params[method].forEach((decorate, index) => decorate(proto, method, index));
}
Controller()(FloorController);
class FloorModule {}
Module({ controllers: [FloorController] })(FloorModule);

const app = await NestFactory.create(FloorModule, new FastifyAdapter({ logger: false }), { logger: false });
await app.listen(PORT, HOST);
process.stdout.write(`nest floor listening on http://${HOST}:${PORT}\n`);
