// Prints, as JSON, the guards and pipes Nest would attach to each controller and to the
// gateway of the built application (dist/), and the global enhancer providers of its root
// module. Run by test/e2e/enhancers.e2e-spec.ts in its own process: @nestjs/throttler is
// CommonJS requiring ESM, which Node loads and Jest's module runtime does not.
import 'reflect-metadata';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = (file) => import(pathToFileURL(join(process.cwd(), 'dist', file)).href);
const { AppModule } = await dist('app.module.js');
const { validateEnv } = await dist('config/env.schema.js');
const { ChatGateway } = await dist('gateway/chat.gateway.js');

const names = (list) => (list ?? []).map((e) => (typeof e === 'function' ? e.name : e.constructor.name));
const describe = (cls) => ({
  name: cls.name,
  path: Reflect.getMetadata('path', cls),
  guards: names(Reflect.getMetadata('__guards__', cls)),
  pipes: names(Reflect.getMetadata('__pipes__', cls)),
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
