// TCP keep-alive for connections that may sit idle for long: tunnels, and connections between
// gateways. When the other host dies, or a partition drops everything, TCP notices nothing while there
// is nothing to send; with keep-alive the kernel probes after 30 s of silence and closes the connection
// after 10 unanswered probes a second apart (Node 20's libuv sets that interval and count), about 40 s
// instead of never. A frozen process still answers probes (its kernel does): where there is HTTP/2,
// PINGs cover that (h2-sessions.ts, h2-pool.ts).

/** net/tls `connect()` and `createServer()` options. */
export const TCP_KEEPALIVE = { keepAlive: true, keepAliveInitialDelay: 30_000 } as const;
