// The roles are part of the wire contract (the key file, `permit keygen`), which the client package owns.
export { ROLES, type Role } from 'temporal-lock-client/wire';
