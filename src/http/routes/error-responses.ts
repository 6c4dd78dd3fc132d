import { ErrorSchema } from '../schemas.js';

/** The answers every keyed route can give: no or an unknown key, a key that may not, too many requests. */
export function accessErrors() {
  return {
    401: ErrorSchema.describe('unauthorized: no API key, or one the service does not know (only when API_KEYS_FILE is set)'),
    403: ErrorSchema.describe('forbidden: the key\'s role may not do this, or the resource is outside its prefixes'),
    429: ErrorSchema.describe('rate_limited: the key sent more than RATE_LIMIT_PER_SECOND requests in a second; with Retry-After'),
  };
}

/** The answers of a route that takes a body: too large, or not JSON. */
export function bodyErrors() {
  return {
    413: ErrorSchema.describe('payload_too_large: the body is larger than BODY_LIMIT_BYTES'),
    415: ErrorSchema.describe('unsupported_media_type: the body is not application/json'),
  };
}
