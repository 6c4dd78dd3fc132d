// Pure module: the configuration and the HTTP schemas share it, and the typed client loads the
// schemas, so it must not import the server's config (Node built-ins, Temporal).

/** What one process runs: the API and the worker (all), the API only (api), the worker only (worker). */
export const SERVICE_ROLES = ['all', 'api', 'worker'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];
