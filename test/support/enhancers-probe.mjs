// Prints, as JSON, the guards and pipes Nest would attach to each controller (and to each
// route handler's parameters) and to the gateway of the built application (dist/), and the
// global enhancer providers of its root module. Run by test/e2e/enhancers.e2e-spec.ts in its own process: @nestjs/throttler is
// CommonJS requiring ESM, which Node loads and Jest's module runtime does not.
import 'reflect-metadata';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = (file) => import(pathToFileURL(join(process.cwd(), 'dist', file)).href);
const { AppModule } = await dist('app.module.js');
const { validateEnv } = await dist('config/env.schema.js');
const { ChatGateway } = await dist('gateway/chat.gateway.js');

const names = (list) => (list ?? []).map((e) => (typeof e === 'function' ? e.name : e.constructor.name));
/** Nest's RouteParamtypes (the part the API uses). */
const SOURCES = { 3: 'body', 4: 'query', 5: 'param' };
/** Each route handler's parameters: where each comes from, its declared type, its own pipes. */
const handlers = (cls) => {
  const out = {};
  for (const method of Object.getOwnPropertyNames(cls.prototype)) {
    const args = Reflect.getMetadata('__routeArguments__', cls, method);
    if (!args) continue;
    const types = Reflect.getMetadata('design:paramtypes', cls.prototype, method) ?? [];
    out[method] = Object.entries(args)
      .map(([key, a]) => ({ index: a.index, source: SOURCES[key.split(':')[0]] ?? key, data: a.data, type: types[a.index]?.name, pipes: names(a.pipes) }))
      .sort((a, b) => a.index - b.index)
      .map(({ index: _index, ...p }) => p);
  }
  return out;
};
const describe = (cls) => ({
  name: cls.name,
  path: Reflect.getMetadata('path', cls),
  guards: names(Reflect.getMetadata('__guards__', cls)),
  pipes: names(Reflect.getMetadata('__pipes__', cls)),
  handlers: handlers(cls),
});

const root = AppModule.register(validateEnv({ STORE: 'memory' }));
const controllers = new Set();
const seen = new Set();
async function visit(ref) {
  const m = await ref;
  if (!m || seen.has(m)) return;
  seen.add(m);
  const cls = m.module ?? m;
  for (const c of [...(Reflect.getMetadata('controllers', cls) ?? []), ...(m.controllers ?? [])]) controllers.add(c);
  for (const i of [...(Reflect.getMetadata('imports', cls) ?? []), ...(m.imports ?? [])]) await visit(i);
}
await visit(root);

console.log(
  JSON.stringify({
    controllers: [...controllers].map(describe).sort((a, b) => a.path.localeCompare(b.path)),
    gateway: describe(ChatGateway),
    rootProviders: (root.providers ?? []).map((p) => (typeof p === 'object' && 'provide' in p ? String(p.provide) : p.name)),
  }),
);
