// A gateway process's AsyncResource.prototype.bind without the deprecated accessor. In Node 20, bind()
// decorates every bound function with an `asyncResource` getter and setter (DEP0172), each wrapped by
// util.deprecate(), and deprecate() re-parents each wrapper with Object.setPrototypeOf: slow to build
// and, by turning functions into prototypes, costly to the code around it (nodejs/node#58218).
// node:http2 binds one function per stream in ClientHttp2Session.request(), so every gRPC call and
// every stream to a peer or an HTTP/2 endpoint paid it: a bare node:http2 proxy gained 25–34% req/s
// without it, the weft chain 14–40% on gRPC. What bind() documents stays: the bound function runs `fn`
// in the resource's async scope, with `thisArg` (or its own receiver) and its arguments, and returns
// fn's result. Only the deprecated property is gone; nothing in weft or its libraries reads it.
import { AsyncResource } from 'node:async_hooks';

type Bind = (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown) => unknown;

function leanBind(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown): unknown {
  if (typeof fn !== 'function') {
    throw new TypeError(`AsyncResource.bind: fn must be a function, got ${typeof fn}`);
  }
  return boundTo(this, fn, thisArg);
}

function boundTo(resource: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg: unknown): unknown {
  if (thisArg === undefined) {
    return function (this: unknown, ...args: unknown[]): unknown {
      return resource.runInAsyncScope(fn, this, ...args);
    };
  }
  return (...args: unknown[]): unknown => resource.runInAsyncScope(fn, thisArg, ...args);
}

/** True when this Node's bind() still builds the deprecated `asyncResource` accessor. */
function bindBuildsDeprecatedAccessor(): boolean {
  const bound = new AsyncResource('weft.probe').bind(() => undefined) as object;
  return Object.getOwnPropertyDescriptor(bound, 'asyncResource') !== undefined;
}

/** Call once, first thing in a process that runs a gateway. A no-op on a Node that no longer builds the accessor. */
export function useLeanAsyncResourceBind(): void {
  if (!bindBuildsDeprecatedAccessor()) return;
  (AsyncResource.prototype as unknown as { bind: Bind }).bind = leanBind;
}
