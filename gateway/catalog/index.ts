// The local service catalog: what this cluster serves (config file + control-API registrations).
export { LocalCatalog } from './local-catalog.js';
export { exportsOf } from './service-exports.js';
export type { LocalService, LocalEndpoint, Registration, CatalogListener } from './local-catalog.js';
