import {
  EXCEPTION_FILTERS_METADATA,
  GUARDS_METADATA,
  INTERCEPTORS_METADATA,
  PIPES_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants.js';
import { MetadataScanner } from '@nestjs/core';
import { GatewayMetadataExplorer } from '@nestjs/websockets/gateway-metadata-explorer.js';
import type { WebSocket } from 'ws';
import { WsErrorFilter } from './ws-error.filter.js';

/** A frame handler as the adapter calls it: never rejects (a failure is the socket's error frame). */
export type FrameHandler = (ws: WebSocket, data: Record<string, unknown>) => Promise<void>;

const ENHANCERS = [GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA] as const;

/**
 * The gateway's `@SubscribeMessage` methods by message, called as they are, or `undefined`
 * when Nest's own per-message wrapper would do more than call the method and the
 * gateway's `WsErrorFilter` (then the adapter uses Nest's callbacks).
 *
 * For every frame Nest's wrapper runs the exception-handling proxy, the guards and
 * interceptors passes and a parameter pass (a promise per parameter and a `Promise.all`,
 * even with no pipe and no parameter decorator): in the 100-room bench 4.4 KB of the 22 KB
 * allocated per message and ≈5 % of the instructions per delivery (docs/performance.md,
 * change 16). With no guard, interceptor or pipe on the gateway or the method, no
 * parameter decorator (the method takes `(socket, frame)`, Nest's own default order) and
 * `WsErrorFilter` as the only filter, calling the method and sending what it throws
 * through the same filter is the same behaviour. Nothing is registered globally
 * (`test/e2e/enhancers.e2e-spec.ts` checks), so no global enhancer is skipped.
 */
export function directFrameHandlers(gateway: object): Map<string, FrameHandler> | undefined {
  const type = gateway.constructor;
  const classFilters: unknown[] = Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, type) ?? [];
  if (classFilters.length !== 1 || classFilters[0] !== WsErrorFilter) return undefined;
  if (ENHANCERS.some((key) => (Reflect.getMetadata(key, type) ?? []).length > 0)) return undefined;
  const filter = new WsErrorFilter();
  const handlers = new Map<string, FrameHandler>();
  for (const { callback, message, methodName } of new GatewayMetadataExplorer(new MetadataScanner()).explore(gateway)) {
    const own = [...ENHANCERS, EXCEPTION_FILTERS_METADATA].some((key) => (Reflect.getMetadata(key, callback) ?? []).length > 0);
    if (own || Reflect.getMetadata(ROUTE_ARGS_METADATA, type, methodName) !== undefined) return undefined;
    const method = callback as (this: object, ws: WebSocket, data: Record<string, unknown>) => unknown;
    handlers.set(String(message), (ws, data) => {
      try {
        return Promise.resolve(method.call(gateway, ws, data)).then(
          () => undefined,
          (err: unknown) => filter.send(ws, err),
        );
      } catch (err) {
        filter.send(ws, err);
        return Promise.resolve();
      }
    });
  }
  return handlers;
}
