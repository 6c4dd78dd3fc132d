/**
 * Who asks the permits layer for something. The HTTP layer makes one per request from the caller's
 * API key; a service without keys acts for everyone alike, as an admin.
 */
export interface Actor {
  /** The API key's name, recorded on the permits it acquires; undefined when the service checks no keys. */
  keyName: string | undefined;
  /** May release, renew and see the tokens of any permit, force-release and set capacities. */
  admin: boolean;
  /** Whether this actor may use the resource at all (its key's prefixes). */
  mayUse(resource: string): boolean;
}

/** The actor of a service that checks no keys (and of the service's own calls): anyone may do anything. */
export const UNRESTRICTED: Actor = { keyName: undefined, admin: true, mayUse: () => true };

/**
 * Whether the actor holds a permit recorded with this owner: the acquiring key itself, or an admin.
 * A permit with no owner recorded (a workflow holder's, or one from before keys) belongs to admins only.
 */
export function actsAsHolder(actor: Actor, owner: string | null): boolean {
  return actor.admin || (owner !== null && owner === actor.keyName);
}
