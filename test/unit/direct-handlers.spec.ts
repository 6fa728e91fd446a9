import { type CanActivate, type CallHandler, type NestInterceptor, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { DomainError } from '../../src/common/errors/domain-error.js';
import { ChatGateway } from '../../src/gateway/chat.gateway.js';
import { directFrameHandlers } from '../../src/gateway/direct-handlers.js';
import { WsErrorFilter } from '../../src/gateway/ws-error.filter.js';

/** What a handler's socket was sent: the frames of an open socket (`sendError` writes only to an open one). */
function openSocket(): { ws: WebSocket; sent: string[] } {
  const sent: string[] = [];
  const ws = { readyState: 1, send: (frame: string) => sent.push(frame) } as unknown as WebSocket;
  return { ws, sent };
}

class AllowAll implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

class PassThrough implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler) {
    return next.handle();
  }
}

@WebSocketGateway()
@UseFilters(WsErrorFilter)
class PlainGateway {
  readonly seen: unknown[] = [];

  @SubscribeMessage('message')
  onMessage(ws: WebSocket, frame: Record<string, unknown>): Promise<void> {
    this.seen.push([ws, frame]);
    if (frame.fail === 'domain') return Promise.reject(DomainError.validation('content must not be blank'));
    if (frame.fail === 'throw') throw new Error('boom');
    return Promise.resolve();
  }
}

@WebSocketGateway()
@UseFilters(WsErrorFilter)
@UseGuards(AllowAll)
class GuardedGateway {
  @SubscribeMessage('message')
  onMessage(): void {}
}

@WebSocketGateway()
@UseFilters(WsErrorFilter)
class InterceptedMethodGateway {
  @SubscribeMessage('message')
  @UseInterceptors(PassThrough)
  onMessage(): void {}
}

@WebSocketGateway()
@UseFilters(WsErrorFilter)
class DecoratedParamGateway {
  @SubscribeMessage('message')
  onMessage(@MessageBody() _frame: unknown): void {}
}

@WebSocketGateway()
class UnfilteredGateway {
  @SubscribeMessage('message')
  onMessage(): void {}
}

describe(directFrameHandlers.name, () => {
  it("maps ChatGateway's message and typing handlers (the server's frames skip Nest's wrapper)", () => {
    const handlers = directFrameHandlers(Object.create(ChatGateway.prototype) as object);
    expect([...(handlers?.keys() ?? [])].sort()).toEqual(['message', 'typing']);
  });

  it('calls the method with the socket and the frame, on the gateway', async () => {
    const gateway = new PlainGateway();
    const { ws, sent } = openSocket();
    const frame = { type: 'text', content: 'hi' };
    await directFrameHandlers(gateway)!.get('message')!(ws, frame);
    expect({ seen: gateway.seen, sent }).toEqual({ seen: [[ws, frame]], sent: [] });
  });

  it('answers a rejected domain error with its error frame, as WsErrorFilter does', async () => {
    const { ws, sent } = openSocket();
    await expect(directFrameHandlers(new PlainGateway())!.get('message')!(ws, { fail: 'domain' })).resolves.toBeUndefined();
    expect(sent.map((f) => JSON.parse(f))).toEqual([{ type: 'error', detail: 'content must not be blank' }]);
  });

  it('answers a synchronous throw with Internal Server Error, never its message', async () => {
    const { ws, sent } = openSocket();
    await expect(directFrameHandlers(new PlainGateway())!.get('message')!(ws, { fail: 'throw' })).resolves.toBeUndefined();
    expect(sent.map((f) => JSON.parse(f))).toEqual([{ type: 'error', detail: 'Internal Server Error' }]);
  });

  it.each([
    ['a guard on the gateway', GuardedGateway],
    ['an interceptor on a handler', InterceptedMethodGateway],
    ['a parameter decorator', DecoratedParamGateway],
    ['no WsErrorFilter', UnfilteredGateway],
  ])("leaves a gateway with %s to Nest's wrapper", (_what, Gateway: new () => object) => {
    expect(directFrameHandlers(new Gateway())).toBeUndefined();
  });
});
