// Mesh DNS (listen.dns, optional): A/AAAA/SRV for the fabric zone, answered with the outbound listener.
export { MeshDnsServer, type MeshDnsServerOptions } from './mesh-dns-server.js';
export { answerQuery, RCODE, TTL_SECONDS, type MeshZone } from './dns-answer.js';
